// `npm run chaos -- --duration 2m --seed 1`: a seeded producer writes clicks (out-of-order, late,
// keyed by url then unkeyed) while 2-3 workers run; at random moments the harness kill -9s a
// worker and restarts it, kill -9s one and replaces it by a worker with an empty state dir of its
// own (a new machine: its tasks are rebuilt from the changelog), stops one cleanly, adds one,
// restarts the broker (the local one), takes a stop-with-savepoint and restores it, rescales the
// job through one (1-4 more partitions, up to 12), or writes hostile records
// (test/support/hostile.ts) among the clicks and onto internal topics. Then it lets the job drain and compares the output
// topics with the oracle computed from the producer's log. Exit 1 on any mismatch.
// `--exactly-once` runs the workers in that mode, reads the outputs read_committed, and counts any
// duplicate record (even an identical one) as a mismatch. `--allowed-lateness 10s` runs the
// workers with it: every window's highest revision must then be final and equal the oracle's count
// for that lateness, replayed revisions byte-identical (or, exactly-once, never repeated).
// `--job-thread` runs the workers with it.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { packageRoot, topicNames } from '../src/config.js';
import { Random } from '../src/producer/random.js';
import { GROUP_STABLE } from '../src/kafka/groups.js';
import { describeGroup } from '../test/support/group.js';
import { duration, nonNegativeInt } from '../src/cli/options.js';
import { expectedWindows, type OracleClick } from '../test/support/oracle.js';
import { readTopic } from '../test/support/kafka.js';
import { clickCodec } from '../src/codec/messages.js';
import { readFileSync } from 'node:fs';
import { readClickLog, readOutput, assertOutputEqualsOracle, type TestJob } from '../test/support/job.js';
import { hostileClicks, hostileInternalRecords } from '../test/support/hostile.js';
import { Producer, commonConfig, connectClient, disconnect, flush } from '../src/kafka/clients.js';

const cli = path.join(packageRoot, 'bin', 'clickstream');
const brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const localBroker = process.env.CHAOS_LOCAL_BROKER === '1';

type FaultKind = 'kill-9' | 'replace-machine' | 'clean-stop' | 'add-worker' | 'broker-restart' | 'savepoint-restore' | 'rescale' | 'hostile-record';

/** Partitions a rescale fault grows the job to, at most. */
const MAX_PARTITIONS = 12;

/** A rescale fault: how far each old partition's source task had read, and the counts before and after. */
interface Rescale {
  readUpTo: Map<number, number>;
  from: number;
  to: number;
}

function run(args: string[], onSpawn?: (child: ChildProcess) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cli, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Lines of each worker's log a failed run prints. */
const LOG_TAIL_LINES = 40;

function tailOf(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}

function shell(command: string): Promise<number | null> {
  return new Promise((resolve) => spawn('bash', ['-c', command], { stdio: 'ignore', cwd: packageRoot }).on('close', resolve));
}

function shellOutput(command: string): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', `${command} 2>&1`], { stdio: ['ignore', 'pipe', 'ignore'], cwd: packageRoot });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', () => resolve(out));
  });
}

async function main(): Promise<void> {
  const options = new Command('chaos')
    .option('--duration <time>', 'how long faults are injected while clicks are produced', duration, 120_000)
    .option('--seed <n>', 'seed of the clicks and of the fault schedule', nonNegativeInt, 1)
    .option('--rate <n>', 'clicks per second', nonNegativeInt, 2_000)
    .option('--exactly-once', 'run the workers with --exactly-once and require zero duplicates', false)
    .option('--allowed-lateness <time>', 'run the workers with this allowed lateness (corrections)', duration, 0)
    .option('--job-thread', 'run the workers with --job-thread (clicks counted on a thread of their own)', false)
    .option('--min-faults <n>', 'keep injecting faults after the producer ends until this many', nonNegativeInt, 10)
    .option('--log-dir <dir>', 'keep each worker\'s log (debug level) in this directory (default: $CHAOS_LOG_DIR)', process.env.CHAOS_LOG_DIR)
    .parse(process.argv)
    .opts<{ duration: number; seed: number; rate: number; exactlyOnce: boolean; allowedLateness: number; jobThread: boolean; minFaults: number; logDir?: string }>();
  const latenessFlags = ['--allowed-lateness', `${options.allowedLateness}ms`];
  const mode = options.exactlyOnce ? 'exactly-once' : 'at-least-once';
  const random = new Random(options.seed);
  const prefix = `chaos-${Date.now().toString(36)}.`;
  const dir = mkdtempSync(path.join(tmpdir(), 'clickstream-chaos-'));
  const job: TestJob = { prefix, topics: topicNames(prefix), jobId: `${prefix}job`, stateDir: path.join(dir, 'state'), dir, workers: [] };
  const say = (line: string): void => void process.stderr.write(`chaos: ${line}\n`);
  if ((await run(['topics', 'create', '--topic-prefix', prefix, '--brokers', brokers])).code !== 0) throw new Error('topics create failed');

  // Long idle timeout: no fault (a broker restart included) may look like a quiet stream.
  const idleTimeout = '40s';
  const workers = new Set<ChildProcess>();
  // Every worker's log is kept (info level, or debug in --log-dir): a failed run prints their tails.
  const logDir = options.logDir ?? path.join(dir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const workerLogs: Array<{ file: string; child: ChildProcess }> = [];
  const startWorker = (stateDir = job.stateDir): ChildProcess => {
    const file = path.join(logDir, `worker-${workerLogs.length + 1}.log`);
    const child = spawn(cli, ['run', '--topic-prefix', prefix, '--job-id', job.jobId, '--state-dir', stateDir, '--idle-timeout', idleTimeout, '--no-minute-tables', '--brokers', brokers, ...latenessFlags, ...(options.exactlyOnce ? ['--exactly-once'] : []), ...(options.jobThread ? ['--job-thread'] : [])], {
      stdio: ['ignore', 'ignore', openSync(file, 'a')],
      env: { ...process.env, CLICKSTREAM_LOG: options.logDir !== undefined ? 'debug' : 'info' },
    });
    workerLogs.push({ file, child });
    workers.add(child);
    child.on('exit', () => workers.delete(child));
    return child;
  };
  const stopWorker = (child: ChildProcess, signal: NodeJS.Signals): Promise<void> =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  const pick = (): ChildProcess => [...workers][random.below(workers.size)]!;

  startWorker();
  startWorker();
  await sleep(3_000);

  // The producer: keyed by url for the first half, unkeyed for the second; event time continues.
  const startMs = Date.now();
  const half = Math.floor((options.rate * options.duration) / 2000);
  const logs = [path.join(dir, 'clicks-1.jsonl'), path.join(dir, 'clicks-2.jsonl')];
  // Set when a fault fails or the job does not recover: the run ends without waiting for the producer.
  let stuck: string | undefined;
  let producer: ChildProcess | undefined;
  const producing = (async () => {
    for (const [i, key] of (['url', 'none'] as const).entries()) {
      if (stuck !== undefined) return;
      const args = [
        'produce', '--topic', job.topics.clicks, '--rate', String(options.rate), '--count', String(half), '--seed', String(options.seed * 10 + i),
        '--key', key, '--start-time', String(startMs + i * Math.floor((half / options.rate) * 1000)), '--late-share', '0.01', '--max-disorder', '5s', '--log', logs[i]!, '--brokers', brokers,
      ];
      let result = await run(args, (child) => (producer = child));
      // The second producer may start while the broker-restart fault has the broker down: it
      // gives up connecting before it sends (or logs) a click, so starting it again is safe.
      for (let attempt = 1; result.code === 2 && /cannot reach Kafka/.test(result.stderr) && attempt <= 6 && stuck === undefined; attempt++) {
        process.stderr.write(`chaos: the producer could not reach the broker; starting it again (${attempt})\n`);
        rmSync(logs[i]!, { force: true });
        await sleep(5_000);
        result = await run(args, (child) => (producer = child));
      }
      if (stuck !== undefined) return;
      if (result.code !== 0) throw new Error(`producer failed: ${result.stderr}`);
    }
  })();

  const faults: Array<{ kind: FaultKind; recoveryMs: number }> = [];
  const kinds: FaultKind[] = ['kill-9', 'kill-9', 'replace-machine', 'clean-stop', 'add-worker', ...(localBroker ? (['broker-restart'] as const) : []), 'savepoint-restore', 'rescale', 'hostile-record'];
  let partitions = 4;
  const rescales: Rescale[] = [];
  const deadline = Date.now() + options.duration;
  // Recovered: the group is stable and its members are exactly the workers alive now.
  let lastGroupSeen = '(none)';
  const waitForRecovery = async (): Promise<void> => {
    const from = Date.now();
    while (Date.now() - from < 90_000) {
      // Each worker is two members of the group, one per stage (src/kafka/stage-consumers.ts).
      const alive = new Set([...workers].flatMap((w) => ['source', 'merge'].map((stage) => `${job.jobId}-worker-${w.pid}-${stage}`)));
      try {
        const group = await describeGroup(job.jobId, brokers);
        lastGroupSeen = `${group.state}: ${group.clientIds.join(', ')}; live: ${[...alive].join(', ')}`;
        if (group.state === GROUP_STABLE && group.clientIds.length === alive.size && group.clientIds.every((id) => alive.has(id))) return;
      } catch {
        // broker still coming back
      }
      await sleep(250);
    }
    throw new Error('the job did not recover within 90 s');
  };
  // Faults continue after the producer ends (the job is still draining) until there are enough.
  // A fault that fails, or a job that does not recover, fails the run after the workers are stopped
  // and the summary printed.
  faulting: while (Date.now() < deadline || faults.length < options.minFaults) {
    await sleep(3_000 + random.below(5_000));
    // Every kind at least once per run: once the faults still required are no more than the
    // kinds not seen yet, the next one is one of those.
    const unseen = [...new Set(kinds)].filter((k) => !faults.some((f) => f.kind === k));
    const required = options.minFaults - faults.length;
    const kind = unseen.length > 0 && unseen.length >= required ? unseen[random.below(unseen.length)]! : kinds[random.below(kinds.length)]!;
    const startedAt = Date.now();
    say(`injecting ${kind}`);
    try {
      switch (kind) {
        case 'kill-9': {
          await stopWorker(pick(), 'SIGKILL');
          await sleep(500 + random.below(2_000));
          startWorker();
          break;
        }
        case 'replace-machine': {
          await stopWorker(pick(), 'SIGKILL');
          await sleep(500 + random.below(2_000));
          startWorker(path.join(mkdtempSync(path.join(dir, 'machine-')), 'state'));
          break;
        }
        case 'hostile-record': {
          // Refused records are in no oracle: the good clicks must stay exact around them.
          const clicks = hostileClicks(Date.now());
          // With an allowed lateness, a late pane is a partial the job takes: not hostile there.
          const internal = hostileInternalRecords().filter((r) => options.allowedLateness === 0 || !r.name.startsWith('late additions to a pane'));
          const producer = new Producer({ ...commonConfig(brokers, 'chaos-hostile'), 'message.max.bytes': 2_000_000 });
          await connectClient(producer, brokers);
          for (let i = 0; i < 3; i++) {
            const h = clicks[random.below(clicks.length)]!;
            producer.produce(job.topics.clicks, random.below(4), h.value, h.key);
          }
          const r = internal[random.below(internal.length)]!;
          const topic = { partials: job.topics.partials, status: job.topics.status, control: job.topics.control, savepoints: job.topics.savepoints }[r.topic];
          producer.produce(topic, r.partition ?? (r.topic === 'partials' ? random.below(4) : 0), r.value, 'chaos-hostile');
          await flush(producer, 30_000);
          await disconnect(producer);
          break;
        }
        case 'clean-stop': {
          await stopWorker(pick(), 'SIGTERM');
          startWorker();
          break;
        }
        case 'add-worker': {
          if (workers.size >= 3) await stopWorker(pick(), 'SIGTERM');
          else startWorker();
          break;
        }
        case 'broker-restart': {
          await shell('bash scripts/kafka.sh stop >/dev/null && bash scripts/kafka.sh start >/dev/null');
          break;
        }
        case 'savepoint-restore':
        case 'rescale': {
          const savepoint = path.join(dir, `savepoint-${faults.length}`);
          const taken = await run(['savepoint', '--path', savepoint, '--stop', '--topic-prefix', prefix, '--job-id', job.jobId, '--brokers', brokers, '--timeout', '60s']);
          if (taken.code !== 0) throw new Error(`savepoint failed: ${taken.stderr}`);
          await Promise.all([...workers].map((w) => stopWorker(w, 'SIGTERM')));
          const to = kind === 'rescale' ? Math.min(MAX_PARTITIONS, partitions + 1 + random.below(4)) : partitions;
          const restored = await run(['restore', '--from', savepoint, '--no-run', '--topic-prefix', prefix, '--job-id', job.jobId, '--state-dir', job.stateDir, '--brokers', brokers, ...latenessFlags, '--partitions', String(to)]);
          if (restored.code !== 0) throw new Error(`restore failed: ${restored.stderr}`);
          if (to > partitions) {
            const manifest = JSON.parse(readFileSync(path.join(savepoint, 'manifest.json'), 'utf8')) as { tasks: Array<{ stage: string; partition: number; nextOffset: number | null }> };
            const readUpTo = new Map(manifest.tasks.filter((t) => t.stage === 'source').map((t) => [t.partition, t.nextOffset ?? 0]));
            rescales.push({ readUpTo, from: partitions, to });
            say(`rescaled from ${partitions} to ${to} partitions`);
            partitions = to;
          }
          startWorker();
          startWorker();
          break;
        }
      }
        await waitForRecovery();
    } catch (err) {
      stuck = `${kind}: ${(err as Error).message.split('\n')[0]}`;
      say(`FAILED: ${stuck}`);
      break faulting;
    }
    const recoveryMs = Date.now() - startedAt;
    faults.push({ kind, recoveryMs });
    say(`${kind}: group stable with ${workers.size} live workers ${(recoveryMs / 1000).toFixed(1)} s after the fault began`);
  }
  if (stuck !== undefined) producer?.kill('SIGTERM');
  await producing;
  if (stuck === undefined) say('producer done; draining (idle timeout closes the last windows)');

  // A producer stopped early (the run failed) may have written a partial line, or no log at all.
  const clicksIn = (file: string) => {
    try {
      return readClickLog(file);
    } catch (err) {
      if (stuck === undefined) throw err;
      return [];
    }
  };
  const clicks = [...clicksIn(logs[0]!), ...clicksIn(logs[1]!)];
  const startWatermarks = stuck === undefined ? await startWatermarksOf(job.topics.clicks, partitions, clicks, rescales) : new Map<number, number>();
  const expected = expectedWindows(clicks, { allowedLatenessMs: options.allowedLateness, startWatermarks });
  let mismatches = stuck !== undefined ? 1 : 0;
  let output: Awaited<ReturnType<typeof readOutput>> | undefined;
  if (stuck === undefined) try {
    output = await readOutput(job, expected, partitions, 90_000);
    assertOutputEqualsOracle(output, expected);
    if (options.exactlyOnce && output.duplicates > 0) throw new Error(`${output.duplicates} duplicate output records in exactly-once mode`);
  } catch (err) {
    mismatches++;
    say(`MISMATCH: ${(err as Error).message.split('\n').slice(0, 12).join('\n')}`);
  }
  if (mismatches > 0) {
    say(`last group seen: ${lastGroupSeen}`);
    for (const { file, child } of workerLogs) {
      const state = child.exitCode !== null || child.signalCode !== null ? `exited ${child.exitCode ?? child.signalCode}` : 'running';
      say(`--- ${path.basename(file)} (pid ${child.pid}, ${state}), last lines:\n${tailOf(file, LOG_TAIL_LINES)}`);
    }
  }
  await Promise.all([...workers].map((w) => stopWorker(w, 'SIGTERM')));
  // A failed run on our own broker: say whether the broker left a transaction hanging (it then
  // blocks read_committed readers and the group's offsets whatever the workers do).
  if (localBroker && mismatches > 0) say(`hanging transactions on the broker: ${(await shellOutput('bash scripts/kafka.sh hanging')).trim()}`);

  const byKind = new Map<string, number>();
  for (const f of faults) byKind.set(f.kind, (byKind.get(f.kind) ?? 0) + 1);
  const recoveries = faults.map((f) => f.recoveryMs).sort((a, b) => a - b);
  const windows = expected.counts.size + expected.totals.size + expected.stats.size;
  process.stdout.write(
    [
      `chaos summary · ${mode}${options.allowedLateness > 0 ? ` · allowed lateness ${options.allowedLateness / 1000} s` : ''} · seed ${options.seed} · ${(options.duration / 1000).toFixed(0)} s of faults`,
      `faults injected: ${faults.length} (${[...byKind].map(([k, n]) => `${k} ${n}`).join(', ')})`,
      `clicks produced: ${2 * half} (late by the oracle: ${expected.late}); partitions ${partitions}${rescales.length > 0 ? ` (rescaled ${rescales.map((r) => `${r.from} → ${r.to}`).join(', ')}; clicks in added partitions: ${clicks.filter((c) => c.partition >= 4).length})` : ''}`,
      `windows checked: ${windows} (counts ${expected.counts.size}, total ${expected.totals.size}, url-stats ${expected.stats.size}); duplicates seen ${output?.duplicates ?? '-'}${options.exactlyOnce ? ' (read_committed)' : ' (all byte-identical)'}; later revisions ${output?.revisions ?? '-'}`,
      `mismatches: ${mismatches}${stuck !== undefined ? ` (the job did not recover from ${stuck})` : ''}`,
      `recovery after a fault: median ${((recoveries[Math.floor(recoveries.length / 2)] ?? 0) / 1000).toFixed(1)} s, max ${((recoveries.at(-1) ?? 0) / 1000).toFixed(1)} s`,
      // The plain closing line test-result readers look for: the run is one check against the oracle.
      `chaos: ${mismatches === 0 ? 1 : 0} passed, ${mismatches === 0 ? 0 : 1} failed`,
    ].join('\n') + '\n',
  );
  process.exit(mismatches === 0 ? 0 : 1);
}

/**
 * The oracle's rule for partitions a rescale added: each starts at the lowest watermark the old
 * partitions had at the savepoint (the highest event time among the clicks each had read, minus
 * the 20 s bound; a partition added before starts at its own start). The clicks read are those
 * of the topic up to each source task's saved offset that are in the producer's log, in order
 * (hostile records among them are skipped).
 */
async function startWatermarksOf(topic: string, partitions: number, logged: OracleClick[], rescales: Rescale[]): Promise<Map<number, number>> {
  const starts = new Map<number, number>();
  if (rescales.length === 0) return starts;
  const boundMs = 20_000;
  const last = rescales.at(-1)!;
  const records = await readTopic(topic, partitions, (messages) => [...last.readUpTo].every(([p, offset]) => offset === 0 || messages.some((m) => m.partition === p && m.offset >= offset - 1)), 10_000);
  const byPartition = new Map<number, OracleClick[]>();
  for (const click of logged) byPartition.set(click.partition, [...(byPartition.get(click.partition) ?? []), click]);
  /** The highest event time among the logged clicks in partition `p` below `offset`. */
  const highestRead = (p: number, offset: number): number => {
    const log = byPartition.get(p) ?? [];
    let next = 0;
    let highest = -Infinity;
    for (const m of records) {
      if (m.partition !== p || m.offset >= offset || next >= log.length) continue;
      let click: { url: string; timestampMs: number } | undefined;
      try {
        click = clickCodec.decode(m.value ?? Buffer.alloc(0));
      } catch {
        continue;
      }
      if (click.url === log[next]!.url && click.timestampMs === log[next]!.ts) highest = Math.max(highest, log[next++]!.ts);
    }
    return highest;
  };
  for (const rescale of rescales) {
    const watermarks = Array.from({ length: rescale.from }, (_, p) => Math.max(starts.get(p) ?? -Infinity, highestRead(p, rescale.readUpTo.get(p) ?? 0) - boundMs));
    const start = Math.min(...watermarks);
    if (start === -Infinity) continue;
    for (let p = rescale.from; p < rescale.to; p++) starts.set(p, start);
  }
  return starts;
}

await main();
