// The broker goes away for 30 s while two jobs run (one per delivery mode) and producers keep
// sending: the workers keep their state in memory, say once that the broker is unreachable and
// once that it is back (no line per retry), and both jobs' outputs equal the oracle, the
// exactly-once one without a single duplicate. The test runs a broker of its own to stop it.

import { after, before, test } from 'node:test';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { OwnBroker } from '../support/own-broker.js';
import { explainPaneMismatches } from '../support/explain.js';
import { useBrokers } from '../support/kafka.js';
import { assertOutputEqualsOracle, createJob, oracleFor, produce, readOutput, startWorker, stopAll, type TestJob } from '../support/job.js';

let broker: OwnBroker;

before(async () => {
  broker = await OwnBroker.create('outage');
  useBrokers(broker.brokers);
});

after(async () => {
  await broker?.destroy();
});

/** The worker's warn-level lines (what an operator sees by default). */
function captureLog(worker: ChildProcess, name: string): () => string[] {
  let text = '';
  worker.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  // OUTAGE_TEST_DUMP=<dir>: every worker's whole log goes there too, for a failure's post-mortem.
  if (process.env.OUTAGE_TEST_DUMP !== undefined) worker.on('exit', () => writeFileSync(path.join(process.env.OUTAGE_TEST_DUMP!, `${name}.log`), text));
  return () => text.split('\n').filter((line) => line.trim() !== '' && !/"level":"(debug|info)"/.test(line));
}

test('a 30 s broker outage: state kept, reported once each way, output equals the oracle in both modes', async () => {
  const modes = [{ name: 'at-least-once', flags: [] as string[] }, { name: 'exactly-once', flags: ['--exactly-once'] }];
  const jobs: TestJob[] = [];
  try {
    const runs = await Promise.all(
      modes.map(async (mode) => {
        const job = await createJob(`outage-${mode.name}`);
        jobs.push(job);
        // A long idle timeout: the partitions are never quiet by the stream, only by the outage.
        // Debug lines are kept for a failure's report; the assertions look at warn and up only.
        const worker = startWorker(job, [...mode.flags, '--idle-timeout', '10s'], { CLICKSTREAM_LOG: process.env.OUTAGE_TEST_LOG ?? 'warn' });
        return { mode, job, worker, log: captureLog(worker, mode.name) };
      }),
    );
    await sleep(3_000);
    // Producers keep sending through the outage (librdkafka holds the clicks until the broker returns).
    const producing = runs.map((run, i) =>
      produce(run.job, ['--rate', '800', '--count', '48000', '--event-rate', '800', '--seed', String(41 + i), '--key', 'user', '--late-share', '0.01']),
    );
    await sleep(15_000);
    await broker.stop();
    await sleep(30_000);
    await broker.start();
    const logs = await Promise.all(producing);
    const expected = logs.map((log) => oracleFor(log));
    for (const [i, run] of runs.entries()) {
      const output = await readOutput(run.job, expected[i]!);
      try {
        assertOutputEqualsOracle(output, expected[i]!);
      } catch (err) {
        // A new error: the runner prints the stack, which an assertion error built with its first message.
        const panes = await explainPaneMismatches(run.job, logs[i]!);
        throw new Error(`${run.mode.name}: ${(err as Error).message.split('\n').slice(0, 40).join('\n')}\n${panes}\nworker log:\n${run.log().join('\n')}`);
      }
      if (run.mode.name === 'exactly-once') assert.equal(output.duplicates, 0, 'exactly-once: no duplicates after the outage');
      assert.equal(run.worker.exitCode, null, `${run.mode.name}: the worker rode out the outage`);
      const lines = run.log();
      const count = (text: string) => lines.filter((line) => line.includes(text)).length;
      assert.equal(count('broker unreachable'), 1, `${run.mode.name}: the outage is reported once:\n${lines.join('\n')}`);
      assert.equal(count('broker reachable again'), 1, `${run.mode.name}: the return is reported once`);
      // At most: the outage, the return, each member's lost partitions (one member per stage),
      // and in exactly-once mode two aborted transactions (the checkpoint the outage failed, and
      // the one open when the group took the partitions). A line per retry would be hundreds
      // (the worker retried ~700 calls in a 30 s outage).
      const perMessage = new Map<string, number>();
      for (const line of lines) {
        const msg = /"msg":"((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? line;
        perMessage.set(msg, (perMessage.get(msg) ?? 0) + 1);
      }
      for (const [msg, times] of perMessage) assert.ok(times <= 2, `${run.mode.name}: "${msg}" logged ${times} times, not once per event:\n${lines.join('\n')}`);
      assert.ok(lines.length <= 6, `${run.mode.name}: no line per retry (${lines.length} lines):\n${lines.join('\n')}`);
    }
    // The restart left no transaction whose markers the broker skipped (see kafka.sh hanging).
    const hanging = await broker.hanging();
    assert.equal(hanging.code, 0, `no hanging transactions after the restart:\n${hanging.output}`);
    assert.match(hanging.output, /no hanging transactions/);
  } finally {
    for (const job of jobs) await stopAll(job);
  }
});
