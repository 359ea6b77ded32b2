// Rescale through a savepoint against the real broker: a job of 4 partitions is stopped with a
// savepoint mid-stream, restored into more partitions (its topics grow), and continued by 4
// workers with state dirs of their own; the union of outputs equals the oracle over every click,
// the added partitions starting at the lowest watermark the old ones had at the savepoint.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expectedWindows, type OracleClick } from '../support/oracle.js';
import { runCli } from '../support/cli.js';
import { brokers, waitForCommittedEnd } from '../support/kafka.js';
import { explainPaneMismatches } from '../support/explain.js';
import { assertOutputEqualsOracle, createJob, produce, readClickLog, readOutput, startWorker, stopAll, type TestJob } from '../support/job.js';

const boundMs = 20_000;
const t0 = Date.now() - 10 * 60_000;

/**
 * The rule for added partitions, computed from the clicks: the watermark each old partition had
 * at the savepoint (the highest event time among the clicks its task had read, minus the bound),
 * the lowest of them; undefined if one had read none.
 */
function lowestWatermarkAt(clicks: OracleClick[], readUpTo: Map<number, number>): number | undefined {
  const highest = new Map<number, number>();
  const seen = new Map<number, number>();
  for (const click of clicks) {
    const index = seen.get(click.partition) ?? 0;
    seen.set(click.partition, index + 1);
    if (index < (readUpTo.get(click.partition) ?? 0)) highest.set(click.partition, Math.max(highest.get(click.partition) ?? -Infinity, click.ts));
  }
  const watermarks = [...readUpTo.keys()].map((p) => (highest.has(p) ? highest.get(p)! - boundMs : undefined));
  return watermarks.some((w) => w === undefined) ? undefined : Math.min(...(watermarks as number[]));
}

/**
 * The partitions the dashboard's API lists (stage-partition, distinct, sorted), once they are
 * `expected`; the last list if they never are. While tasks move, a worker's previous status may
 * still name a task another worker now has: the list settles within a status interval or two.
 */
async function dashboardPartitions(url: string, expected: string[]): Promise<string[]> {
  let last: string[] = [];
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(500)) {
    try {
      const response = await fetch(url);
      if (!response.ok) continue;
      const body = (await response.json()) as { partitions: Array<{ stage: string; partition: number }> };
      last = [...new Set(body.partitions.map((p) => `${p.stage}-${p.partition}`))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
      if (last.join() === expected.join()) return last;
    } catch {
      // not listening yet
    }
  }
  return last;
}

const cases = [
  { key: 'url', mode: 'exactly-once', to: 8 },
  { key: 'user', mode: 'at-least-once', to: 8 },
  { key: 'none', mode: 'exactly-once', to: 6 },
  { key: 'url', mode: 'at-least-once', to: 6 },
] as const;

for (const [i, c] of cases.entries()) {
  test(`rescale 4 → ${c.to} partitions mid-stream, clicks keyed by ${c.key}, ${c.mode}: the union of outputs equals the oracle`, async () => {
    const job = await createJob(`rescale-${c.key}-${c.to}`);
    const flags = c.mode === 'exactly-once' ? ['--exactly-once'] : [];
    const workers: TestJob[] = [];
    try {
      startWorker(job, ['--idle-timeout', '60s', ...flags]);
      startWorker(job, ['--idle-timeout', '60s', ...flags]);
      await sleep(3_000);
      // Still producing when the job stops: the rest waits in the old partitions for the rescaled job.
      const producing = produce(job, ['--rate', '12000', '--count', '60000', '--event-rate', '1000', '--seed', String(61 + i), '--start-time', String(t0), '--key', c.key, '--late-share', '0.01'], 'batch1.jsonl');
      await sleep(2_000);
      const dir = path.join(job.dir, 'savepoint');
      const taken = await runCli(['savepoint', '--path', dir, '--stop', '--topic-prefix', job.prefix, '--job-id', job.jobId, '--brokers', brokers]);
      assert.equal(taken.code, 0, taken.stderr);
      const log1 = await producing;
      const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { tasks: Array<{ stage: string; partition: number; nextOffset: number | null }> };
      const readUpTo = new Map(manifest.tasks.filter((t) => t.stage === 'source').map((t) => [t.partition, t.nextOffset ?? 0]));

      const rescaled: TestJob = { ...job, jobId: `${job.jobId}-rescaled`, stateDir: path.join(job.dir, 'state-rescaled'), workers: [] };
      const restored = await runCli(['restore', '--from', dir, '--partitions', String(c.to), '--no-run', '--topic-prefix', job.prefix, '--job-id', rescaled.jobId, '--state-dir', rescaled.stateDir, '--brokers', brokers, ...flags]);
      assert.equal(restored.code, 0, restored.stderr);
      assert.match(restored.stdout, new RegExp(`restored savepoint sp-\\S+: ${2 * c.to} tasks`));
      assert.match(restored.stderr, new RegExp(`grew the job's topics from 4 to ${c.to} partitions`));
      const inspect = await runCli(['savepoint', 'inspect', dir]);
      assert.match(inspect.stdout, /clicks partitions 4, merge partitions 4/);
      // The first worker serves the dashboard: it shows the new layout.
      const port = 23000 + Math.floor(Math.random() * 1000);
      for (let w = 0; w < 4; w++) {
        const worker: TestJob = { ...rescaled, stateDir: w === 0 ? rescaled.stateDir : path.join(job.dir, `state-w${w}`), workers: [] };
        workers.push(worker);
        // 30 s: no partition may go idle before the second batch comes (the wait for the layout
        // includes rebuilding tasks from the changelog); below readOutput's 60 s quiet window.
        startWorker(worker, ['--idle-timeout', '30s', ...flags, ...(w === 0 ? ['--dashboard', '--http-port', String(port)] : [])]);
      }
      const layout = [...Array.from({ length: c.to }, (_, p) => `merge-${p}`), ...Array.from({ length: c.to }, (_, p) => `source-${p}`)];
      assert.deepEqual(await dashboardPartitions(`http://127.0.0.1:${port}/api/job`, layout), layout);
      const log2 = await produce(job, ['--rate', '20000', '--count', '40000', '--event-rate', '1000', '--seed', String(71 + i), '--start-time', String(t0 + 60_000), '--key', c.key, '--late-share', '0.01'], 'batch2.jsonl');
      const clicks2 = readClickLog(log2);
      assert.ok(clicks2.some((click) => click.partition >= 4), 'the producer wrote to the added partitions');

      const clicks = [...readClickLog(log1), ...clicks2];
      const start = lowestWatermarkAt(readClickLog(log1), readUpTo);
      const startWatermarks = new Map<number, number>();
      if (start !== undefined) for (let p = 4; p < c.to; p++) startWatermarks.set(p, start);
      const expected = expectedWindows(clicks, { startWatermarks });
      const output = await readOutput(job, expected, c.to);
      try {
        assertOutputEqualsOracle(output, expected);
      } catch (err) {
        throw new Error(`${(err as Error).message.split('\n').slice(0, 30).join('\n')}\n${await explainPaneMismatches(job, log2)}`);
      }
      if (c.mode === 'exactly-once') assert.equal(output.duplicates, 0, 'exactly-once: no duplicates across the rescale');
      const offsets = await waitForCommittedEnd(rescaled.jobId, job.topics.clicks, c.to, 60_000);
      assert.deepEqual(offsets.committed, offsets.end, 'every click of every partition read');
    } finally {
      await stopAll(job);
      for (const worker of workers) await stopAll(worker);
    }
  });
}

test('rescale refusals: fewer partitions, a savepoint not taken with --stop; one line each, nothing changed', async () => {
  const job = await createJob('rescale-refused');
  try {
    startWorker(job, ['--idle-timeout', '60s']);
    await sleep(3_000);
    await produce(job, ['--rate', '20000', '--count', '5000', '--event-rate', '1000', '--seed', '81', '--start-time', String(t0), '--key', 'url']);
    const running = path.join(job.dir, 'running');
    assert.equal((await runCli(['savepoint', '--path', running, '--topic-prefix', job.prefix, '--job-id', job.jobId, '--brokers', brokers])).code, 0);
    const stopped = path.join(job.dir, 'stopped');
    assert.equal((await runCli(['savepoint', '--path', stopped, '--stop', '--topic-prefix', job.prefix, '--job-id', job.jobId, '--brokers', brokers])).code, 0);
    const restore = (from: string, partitions: number) =>
      runCli(['restore', '--from', from, '--partitions', String(partitions), '--no-run', '--topic-prefix', job.prefix, '--job-id', `${job.jobId}-r`, '--state-dir', path.join(job.dir, 'r'), '--brokers', brokers]);
    const oneLine = (r: { code: number | null; stderr: string }, code: number, message: RegExp): void => {
      assert.equal(r.code, code, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, message);
    };
    oneLine(await restore(stopped, 2), 1, /--partitions 2: savepoint sp-\S+ has 4, and a Kafka topic never loses partitions/);
    oneLine(await restore(running, 8), 2, /cannot be rescaled: only an aligned one, taken with "clickstream savepoint --stop"/);
    const topics = await runCli(['topics', 'create', '--topic-prefix', job.prefix, '--brokers', brokers]);
    assert.match(topics.stdout, new RegExp(`${job.prefix.replace(/\./g, '\\.')}clicks\\s+4 partitions`), 'the topics did not grow');
  } finally {
    await stopAll(job);
  }
});
