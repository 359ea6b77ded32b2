// `npm run bench`: for each of two workloads, preloads a backlog of clicks and measures, in one
// run, a raw baseline (consume(n) with the job's own consumer settings and the job's hand decoder
// on each click, as issue 15 defines it), the job with 1 worker and with 2 workers, with 1 worker
// in exactly-once mode and with 1 worker without the changelog: clicks/s from the first record
// read to the last, and overall as a user would time it (process start until the group has
// committed every offset of clicks and partials), peak RSS, checkpoint duration (median, p99)
// and checkpoint size.
// Workloads: "random" (5,000 clicks/s of event time, unkeyed, 1,000 urls: few windows per click)
// and "realistic" (1,000 clicks/s of event time keyed by url, Zipf over 200 urls, 1 % late: five
// times more windows closed per click).
// Figures only; nothing here passes or fails. Keep the output format stable across versions.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { execFileSync } from 'node:child_process';
import { packageRoot, topicNames } from '../src/config.js';
import { launcher } from './launcher.js';
import { deleteBenchTopics, type CreatedTopics } from './topics-cleanup.js';
import { jobTopics } from '../src/kafka/topics.js';
import { KafkaConsumer, commonConfig, connectClient, disconnect, type ConsumerClient } from '../src/kafka/clients.js';

const brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const clicks = Number(process.env.BENCH_CLICKS ?? 5_000_000);
const partitions = 4;

interface Workload {
  name: string;
  describe: string;
  produce: string[];
}

const workloads: Workload[] = [
  { name: 'random', describe: '5,000 clicks/s of event time, unkeyed, 1,000 urls', produce: ['--key', 'none', '--unknown-urls', '850', '--unknown-share', '0.5', '--event-rate', '5000'] },
  { name: 'realistic', describe: '1,000 clicks/s of event time keyed by url, Zipf over 200 urls, 1 % late', produce: ['--key', 'url', '--event-rate', '1000', '--late-share', '0.01'] },
];
const cli = path.join(packageRoot, 'bin', 'clickstream');
// For profiling and experiments: extra node flags for the measured processes (BENCH_NODE_ARGS,
// e.g. "--cpu-prof"), a subset of the job's cases (BENCH_CASES="1 worker,exactly-once"; raw consume
// always runs), and a backlog preloaded
// by an earlier run (BENCH_PREFIX, the topic prefix it printed) instead of a new one.
const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
const onlyCases = process.env.BENCH_CASES?.split(',');
// On a shared host one run of a case says little (raw consume alone varied 151k-246k clicks/s
// between runs of one evening): BENCH_ROUNDS=N runs raw consume and every case N times,
// interleaved, and sums up each case's ratios to the raw consume of its own round.
const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
if (!Number.isSafeInteger(rounds) || rounds < 1 || rounds > 50) {
  process.stderr.write(`bench: BENCH_ROUNDS must be a whole number from 1 to 50, not ${JSON.stringify(process.env.BENCH_ROUNDS)}\n`);
  process.exit(2);
}
const wanted = (label: string): boolean => onlyCases === undefined || onlyCases.includes(label);
const children = path.join(packageRoot, 'dist', 'bench', 'children.js');

/** utime + stime of a /proc stat line, in seconds (fields after the parenthesised command name: the 12th and 13th). */
function statCpuS(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks of 10 ms (USER_HZ)
}

/**
 * CPU seconds the local broker (scripts/kafka.sh's, same machine) has used so far, all of it and
 * its JIT compiler threads' share, or undefined when the broker is elsewhere: the job's writes cost
 * the broker CPU on the same cores. The JIT compiles each new code path once (a broker started
 * for the bench compiles its produce and transaction paths during the first job: 20-58 % of the
 * broker's CPU in a case, measured per thread); a long-running broker has paid that already.
 */
function brokerCpuS(): { all: number; jit: number } | undefined {
  try {
    const pid = readFileSync(path.join(process.env.KAFKA_HOME ?? path.join(packageRoot, '.kafka'), 'kafka.pid'), 'utf8').trim();
    let jit = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      try {
        if (readFileSync(`/proc/${pid}/task/${task}/comm`, 'utf8').includes('CompilerThre')) jit += statCpuS(readFileSync(`/proc/${pid}/task/${task}/stat`, 'utf8'));
      } catch {
        // the thread ended meanwhile
      }
    }
    return { all: statCpuS(readFileSync(`/proc/${pid}/stat`, 'utf8')), jit };
  } catch {
    return undefined;
  }
}

/** Starts counting the broker's CPU: the returned function gives the seconds used since (all, and without the JIT's). */
function brokerCpuMeter(): () => { all: number; noJit: number } | undefined {
  const before = brokerCpuS();
  return () => {
    const after = brokerCpuS();
    return before === undefined || after === undefined ? undefined : { all: after.all - before.all, noJit: after.all - before.all - Math.max(0, after.jit - before.jit) };
  };
}

interface Line {
  kind: 'progress' | 'final';
  clicks: number;
  [key: string]: unknown;
}

interface ChildRun {
  lines: Line[];
  final: Promise<Line>;
  stop(): void;
  onProgress(cb: (line: Line) => void): void;
}

function startChild(args: string[]): ChildRun {
  const child = spawn(process.execPath, [...launcher.nodeArgs, ...nodeArgs, children, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...launcher.env } });
  const lines: Line[] = [];
  const listeners: Array<(line: Line) => void> = [];
  let resolveFinal!: (line: Line) => void;
  const final = new Promise<Line>((resolve, reject) => {
    resolveFinal = resolve;
    child.on('exit', (code) => code !== 0 && reject(new Error(`bench child exited with ${code}`)));
  });
  createInterface({ input: child.stdout! }).on('line', (text) => {
    // Node's own tracing (BENCH_NODE_ARGS=--trace-gc and the like) writes to stdout too: passed on.
    if (!text.startsWith('{')) return void process.stderr.write(`${text}\n`);
    const line = JSON.parse(text) as Line;
    lines.push(line);
    if (line.kind === 'final') resolveFinal(line);
    else for (const listener of listeners) listener(line);
  });
  return { lines, final, stop: () => child.kill('SIGTERM'), onProgress: (cb) => listeners.push(cb) };
}

const quantile = (values: number[], q: number): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};

/** The middle value; of an even number of values, the mean of the two middle ones. */
const median = (values: number[]): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** What a peak RSS was made of, in MB: the JS heap (used of total), buffers, and the rest (native: librdkafka, LevelDB, code). */
function peakBreakdown(usage: NodeJS.MemoryUsage | undefined): string {
  if (usage === undefined) return 'not sampled';
  const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
  return `${mb(usage.rss)} MB: heap ${mb(usage.heapUsed)} of ${mb(usage.heapTotal)}, external ${mb(usage.external)} (array buffers ${mb(usage.arrayBuffers)}), other ${mb(usage.rss - usage.heapTotal - usage.external)}`;
}

interface Row {
  name: string;
  clicksPerSec: number;
  /** Process start until every offset is committed. */
  overallPerSec?: number;
  wallS: number;
  peakRssMb: number;
  ckptP50Ms?: number;
  ckptP99Ms?: number;
  ckptKbP50?: number;
  ckptCount?: number;
  flushP99Ms?: number;
  /** CPU seconds of the job's processes (or raw consume's) over the run. */
  cpuS?: number;
  /** Share of its life the JS thread was busy (event loop utilisation; the least of the workers'). */
  loopBusy?: number;
  /** The same from the first click read to the last (the least of the workers'). */
  catchUpBusy?: number;
  /** CPU seconds the local broker used during the run. */
  brokerCpuS?: number;
  /** The same without the broker's JIT compiler threads. */
  brokerNoJitS?: number;
  /** The largest share of the clicks one worker processed (of 2 workers: balanced is 50 %). */
  topWorkerShare?: number;
}

/**
 * Resolves when the group has committed every offset of clicks and partials (a partials partition
 * may end in a transaction marker, which takes an offset nobody commits) and the workers read
 * every click: the job is done, as its user would see it.
 */
async function allCommitted(groupId: string, topics: { clicks: string; partials: string }, exactlyOnce: boolean, clicksRead: () => number): Promise<number> {
  const consumer: ConsumerClient = new KafkaConsumer({ ...commonConfig(brokers, 'bench-offsets'), 'group.id': groupId, 'enable.auto.commit': false }, {});
  await connectClient(consumer, brokers);
  const all = [topics.clicks, topics.partials].flatMap((topic) => Array.from({ length: partitions }, (_, partition) => ({ topic, partition })));
  try {
    for (;;) {
      if (clicksRead() >= clicks) {
        const ends = await Promise.all(all.map(({ topic, partition }) => new Promise<number>((resolve, reject) => consumer.queryWatermarkOffsets(topic, partition, 5_000, (err, o) => (err ? reject(err) : resolve(o.highOffset))))));
        const committed = await new Promise<number[]>((resolve, reject) => consumer.committed(all, 5_000, (err, got) => (err ? reject(err) : resolve(got.map((c) => c.offset ?? -1)))));
        const slack = (i: number) => (exactlyOnce && all[i]!.topic === topics.partials ? 1 : 0);
        if (committed.every((offset, i) => offset >= ends[i]! - slack(i))) return performance.now();
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    await disconnect(consumer);
  }
}

/**
 * The topics this run created: every topic under each case's prefix (new: a timestamp in it), and
 * for a backlog it preloaded that workload's other topics by name (the backlog is kept). Nothing
 * else under a workload's prefix: another run may reuse it meanwhile (BENCH_PREFIX), and a prefix
 * the user gave is not the bench's to clear.
 */
const createdTopics: CreatedTopics[] = [];
/** Backlogs this run preloaded, for the hint that reuses them: [workload, prefix]. */
const preloaded: Array<[string, string]> = [];

async function runJob(prefix: string, workers: number, exactlyOnce = false, changelog = true, allowedLatenessMs = 0, jobThread = false, aligned = true): Promise<Row> {
  const variant = `${jobThread ? '-thr' : ''}${exactlyOnce ? '-eos' : ''}${changelog ? '' : '-nocl'}${allowedLatenessMs > 0 ? '-late' : ''}${aligned ? '' : '-noal'}`;
  const jobId = `${prefix}job-${workers}${variant}-${Date.now().toString(36)}`;
  // The case's own internal and output topics: a job reading another case's partials (same
  // topic, other group) would merge every earlier run's panes too.
  const casePrefix = `${jobId}.`;
  createdTopics.push({ underPrefix: casePrefix });
  execFileSync(cli, ['topics', 'create', '--topic-prefix', casePrefix, '--partitions', String(partitions), '--brokers', brokers], { stdio: 'ignore' });
  const clicksTopic = topicNames(prefix).clicks;
  const stateDir = mkdtempSync(path.join(tmpdir(), 'clickstream-bench-'));
  const brokerCpu = brokerCpuMeter();
  const startedAt = performance.now();
  const runs = Array.from({ length: workers }, () => startChild(['worker', brokers, casePrefix, jobId, stateDir, exactlyOnce ? 'exactly-once' : 'at-least-once', changelog ? 'changelog' : 'no-changelog', clicksTopic, String(allowedLatenessMs), jobThread ? 'job-thread' : 'inline', aligned ? 'aligned' : 'no-alignment']));
  const latest = runs.map(() => 0);
  const committedAt = allCommitted(jobId, { clicks: clicksTopic, partials: topicNames(casePrefix).partials }, exactlyOnce, () => latest.reduce((a, b) => a + b, 0));
  let firstAt = 0;
  const doneAt = await new Promise<number>((resolve) => {
    runs.forEach((run, i) =>
      run.onProgress((line) => {
        latest[i] = line.clicks;
        const sum = latest.reduce((a, b) => a + b, 0);
        if (sum > 0 && firstAt === 0) firstAt = performance.now();
        if (sum >= clicks) resolve(performance.now());
      }),
    );
  });
  const overallEndAt = await committedAt;
  const brokerSeconds = brokerCpu();
  for (const run of runs) run.stop();
  const finals = await Promise.all(runs.map((run) => run.final));
  for (const final of finals) process.stderr.write(`bench: ${jobId}: at peak RSS ${peakBreakdown(final.atPeak as NodeJS.MemoryUsage | undefined)}\n`);
  rmSync(stateDir, { recursive: true, force: true });
  const checkpoints = finals.flatMap((f) => f.checkpoints as Array<{ durationMs: number; kafkaWaitMs: number; bytes: number }>);
  const durations = checkpoints.map((c) => c.durationMs);
  const wallS = (doneAt - startedAt) / 1000;
  return {
    name: `job-${workers}-worker${workers > 1 ? 's' : ''}${variant}`,
    clicksPerSec: clicks / ((doneAt - firstAt) / 1000),
    overallPerSec: clicks / ((overallEndAt - startedAt) / 1000),
    wallS,
    peakRssMb: Math.max(...finals.map((f) => f.peakRss as number)) / 2 ** 20,
    ckptP50Ms: quantile(durations, 0.5),
    ckptP99Ms: quantile(durations, 0.99),
    ckptKbP50: quantile(checkpoints.map((c) => c.bytes), 0.5) / 1024,
    ckptCount: checkpoints.length,
    flushP99Ms: quantile(checkpoints.map((c) => c.kafkaWaitMs), 0.99),
    cpuS: finals.reduce((sum, f) => sum + (f.cpuMs as number), 0) / 1000,
    loopBusy: Math.min(...finals.map((f) => f.loopBusy as number)),
    catchUpBusy: Math.min(...finals.map((f) => (f.catchUpBusy as number | undefined) ?? Number.NaN)),
    brokerCpuS: brokerSeconds?.all,
    brokerNoJitS: brokerSeconds?.noJit,
    topWorkerShare: Math.max(...finals.map((f) => f.clicks as number)) / finals.reduce((sum, f) => sum + (f.clicks as number), 0),
  };
}

async function benchWorkload(workload: Workload): Promise<string[]> {
  const reused = process.env.BENCH_PREFIX;
  const prefix = reused ?? `bench-${Date.now().toString(36)}-${workload.name}.`;
  const topics = topicNames(prefix);
  if (reused === undefined) {
    createdTopics.push({ named: jobTopics(topics, partitions).map((t) => t.name).filter((name) => name !== topics.clicks) });
    preloaded.push([workload.name, prefix]);
    execFileSync(cli, ['topics', 'create', '--topic-prefix', prefix, '--partitions', String(partitions), '--brokers', brokers], { stdio: 'ignore' });
    process.stderr.write(`bench: ${workload.name}: preloading ${clicks} clicks into ${topics.clicks}...\n`);
    const produced = execFileSync(cli, ['produce', '--topic', topics.clicks, '--rate', '0', '--count', String(clicks), '--seed', '1', ...workload.produce, '--brokers', brokers]).toString().trim();
    process.stderr.write(`bench: ${produced}\n`);
  }

  const table: string[] = [`workload ${workload.name}: ${workload.describe}`];
  const ratios = new Map<string, { clicks: number[]; overall: number[] }>();
  for (let round = 1; round <= rounds; round++) {
    if (rounds > 1) table.push(`round ${round} of ${rounds}`);
    const rows = await benchRound(workload, prefix, round);
    table.push(...formatRows(rows, round === 1));
    for (const row of rows.slice(1)) {
      const seen = ratios.get(row.name) ?? { clicks: [], overall: [] };
      seen.clicks.push(row.clicksPerSec / rows[0]!.clicksPerSec);
      if (row.overallPerSec !== undefined) seen.overall.push(row.overallPerSec / rows[0]!.clicksPerSec);
      ratios.set(row.name, seen);
    }
  }
  if (rounds > 1) {
    const pct = (value: number) => `${(100 * value).toFixed(0)}%`;
    const summary = (values: number[]) => `${pct(median(values))} (${pct(Math.min(...values))}-${pct(Math.max(...values))})`;
    table.push(`${rounds} rounds, against raw consume of the same round: median (lowest-highest)`);
    for (const [name, seen] of ratios) table.push(`${name.padEnd(20)}clicks/s ${summary(seen.clicks)}  overall/s ${summary(seen.overall)}`);
  }
  return table;
}

/** Raw consume, then every wanted case, once each: the rows of one round. */
async function benchRound(workload: Workload, prefix: string, round: number): Promise<Row[]> {
  const rows: Row[] = [];
  const topics = topicNames(prefix);
  const rawBrokerCpu = brokerCpuMeter();
  const raw = startChild(['raw', brokers, topics.clicks, String(partitions), String(clicks)]);
  const rawFinal = await raw.final;
  const rawBrokerCpuS = rawBrokerCpu();
  rows.push({
    name: 'raw-consume',
    clicksPerSec: clicks / ((rawFinal.activeMs as number) / 1000),
    overallPerSec: clicks / ((rawFinal.wallMs as number) / 1000),
    wallS: (rawFinal.wallMs as number) / 1000,
    peakRssMb: (rawFinal.peakRss as number) / 2 ** 20,
    cpuS: (rawFinal.cpuMs as number) / 1000,
    loopBusy: rawFinal.loopBusy as number,
    catchUpBusy: rawFinal.catchUpBusy as number | undefined,
    brokerCpuS: rawBrokerCpuS?.all,
    brokerNoJitS: rawBrokerCpuS?.noJit,
  });
  // "allowed lateness": 1 worker with --allowed-lateness 2m, so every window is emitted twice
  // (revision 0, then final) and late clicks are corrections: against "1 worker" of the same run.
  // "job thread": --job-thread, the clicks counted on a thread of their own, in both modes.
  // "no alignment": --max-watermark-drift 0, against "1 worker" (memory held by a skewed catch-up).
  const cases: Array<[string, number, boolean, boolean, number, boolean, boolean]> = [
    ['1 worker', 1, false, true, 0, false, true],
    ['2 workers', 2, false, true, 0, false, true],
    ['exactly-once', 1, true, true, 0, false, true],
    ['no changelog', 1, false, false, 0, false, true],
    ['allowed lateness', 1, false, true, 120_000, false, true],
    ['job thread', 1, false, true, 0, true, true],
    ['job thread exactly-once', 1, true, true, 0, true, true],
    ['no alignment', 1, false, true, 0, false, false],
  ];
  for (const [label, workers, exactlyOnce, changelog, allowedLatenessMs, jobThread, aligned] of cases.filter(([label]) => wanted(label))) {
    process.stderr.write(`bench: ${workload.name}: ${label}${rounds > 1 ? ` (round ${round} of ${rounds})` : ''}...\n`);
    rows.push(await runJob(prefix, workers, exactlyOnce, changelog, allowedLatenessMs, jobThread, aligned));
  }
  return rows;
}

/** A round's rows as table lines (the header above the first round only); ratios against its raw consume. */
function formatRows(rows: Row[], withHeader: boolean): string[] {
  const fmt = (value: number | undefined, digits = 0): string => (value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits));
  const share = (value: number | undefined, of: number | undefined): string => (value === undefined || of === undefined ? '-' : `${fmt((100 * value) / of)}%`);
  return [
    ...(withHeader ? [`${'case'.padEnd(20)}${'clicks/s'.padStart(10)}${'vs raw'.padStart(8)}${'wall s'.padStart(8)}${'RSS MB'.padStart(8)}${'ckpt p50 ms'.padStart(13)}${'ckpt p99 ms'.padStart(13)}${'ckpt KB p50'.padStart(13)}${'ckpts'.padStart(7)}${'flush p99'.padStart(11)}${'overall/s'.padStart(11)}${'vs raw'.padStart(8)}${'cpu s'.padStart(8)}${'busy'.padStart(6)}${'broker s'.padStart(10)}${'top wkr'.padStart(9)}${'life busy'.padStart(11)}${'broker -jit'.padStart(13)}${'x raw'.padStart(7)}`] : []),
    ...rows.map((r) =>
      `${r.name.padEnd(20)}${fmt(r.clicksPerSec).padStart(10)}${share(r.clicksPerSec, rows[0]!.clicksPerSec).padStart(8)}${fmt(r.wallS, 1).padStart(8)}${fmt(r.peakRssMb).padStart(8)}` +
      `${fmt(r.ckptP50Ms, 1).padStart(13)}${fmt(r.ckptP99Ms, 1).padStart(13)}${fmt(r.ckptKbP50, 1).padStart(13)}${fmt(r.ckptCount).padStart(7)}${fmt(r.flushP99Ms, 1).padStart(11)}` +
      `${fmt(r.overallPerSec).padStart(11)}${share(r.overallPerSec, rows[0]!.clicksPerSec).padStart(8)}` +
      `${fmt(r.cpuS, 1).padStart(8)}${share(r.catchUpBusy, 1).padStart(6)}${fmt(r.brokerCpuS, 1).padStart(10)}${share(r.topWorkerShare, 1).padStart(9)}${share(r.loopBusy, 1).padStart(11)}` +
      `${fmt(r.brokerNoJitS, 1).padStart(13)}${(r.brokerNoJitS === undefined || rows[0]!.brokerNoJitS === undefined ? '-' : `${(r.brokerNoJitS / rows[0]!.brokerNoJitS).toFixed(1)}x`).padStart(7)}`,
    ),
  ];
}

/**
 * The broker's CPU while nobody uses it (controller, metadata, metrics: it ticks whatever the load),
 * per second over 10 s before the first case: every case's broker CPU includes it, and raw
 * consume's is little else, so `x raw` reads better beside it.
 */
async function brokerAtRest(): Promise<number | undefined> {
  const seconds = 10; // /proc counts 10 ms ticks: ~16 of them in 10 s at rest here
  const meter = brokerCpuMeter();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const used = meter();
  return used === undefined ? undefined : used.noJit / seconds;
}

async function main(): Promise<void> {
  const only = process.env.BENCH_WORKLOADS?.split(',');
  const tables: string[] = [];
  const restPerS = await brokerAtRest();
  try {
    for (const workload of workloads.filter((w) => only === undefined || only.includes(w.name))) tables.push(...(await benchWorkload(workload)), '');
  } finally {
    await cleanUp();
  }
  const out = [
    `clickstream bench · ${new Date().toISOString().slice(0, 10)} · ${clicks} clicks per workload, ${partitions} partitions, broker ${brokers}`,
    '',
    ...tables,
    'clicks/s counts from the first record read to the last (wall s includes start-up and group join);',
    'overall/s from process start until the group has committed every offset (as a user times a job),',
    'both against raw consume\'s clicks/s. A checkpoint\'s duration includes waiting for the producer\'s',
    'acknowledgements (flush p99; in exactly-once mode: sending the offsets and committing the',
    'transaction). -thr: --job-thread; -eos: exactly-once; -noal: --max-watermark-drift 0; -nocl: without the changelog topics (the',
    'others write every checkpoint\'s changes to them); -late: --allowed-lateness 2m (every window',
    'emitted twice, late clicks as corrections). cpu s: CPU time of the case\'s processes (all their threads);',
    'busy: the share of the catch-up (its first click read to its last) the JS thread was busy',
    '(event loop utilisation; of 2 workers the lower); broker s: CPU time of the local broker over',
    'the case; top wkr: the largest share of the clicks one worker processed; life busy: as busy,',
    'over the whole life of the process (start-up, group join and the wait to be stopped included);',
    'broker -jit: broker s without its JIT compiler threads (compiling a code path the first time it',
    'runs: a long-running broker has done it), x raw: that against raw consume\'s (same clicks).',
    `broker at rest: ${restPerS === undefined ? '-' : restPerS.toPrecision(2)} s of CPU per second (broker -jit), over 10 s before the first case.`,
  ];
  process.stdout.write(out.join('\n') + '\n');
}

/** Deletes the topics this run created but its backlogs, also after a failed case. */
async function cleanUp(): Promise<void> {
  const { deleted, failures } = await deleteBenchTopics(brokers, createdTopics);
  for (const [name, prefix] of preloaded) process.stderr.write(`bench: kept the backlog ${topicNames(prefix).clicks} (BENCH_WORKLOADS=${name} BENCH_PREFIX=${prefix} reuses it)\n`);
  process.stderr.write(`bench: deleted the ${deleted} other topics this run created\n`);
  for (const failure of failures.slice(0, 5)) process.stderr.write(`bench: could not delete ${failure}\n`);
}

await main();
