// Runs the real job for integration tests: topics under a unique prefix, the producer CLI with
// its --log (the oracle's input), `clickstream run` workers as child processes, and a reader that
// collects the output topics deduplicated by (window, key), checking duplicates are identical.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Message } from '@confluentinc/kafka-javascript';
import assert from 'node:assert/strict';
import { topicNames, type TopicNames } from '../../src/config.js';
import { urlStatsCodec, windowCountCodec, windowTotalCodec } from '../../src/codec/messages.js';
import { runCli, startCli } from './cli.js';
import { brokers, readTopic, uniqueName } from './kafka.js';
import { expectedWindows, type Expected, type OracleClick, type OracleOptions } from './oracle.js';

export interface TestJob {
  prefix: string;
  topics: TopicNames;
  jobId: string;
  stateDir: string;
  dir: string;
  workers: ChildProcess[];
}

export async function createJob(name: string, partitions = 4): Promise<TestJob> {
  const prefix = `${uniqueName(name)}.`;
  const result = await runCli(['topics', 'create', '--topic-prefix', prefix, '--partitions', String(partitions), '--brokers', brokers]);
  assert.equal(result.code, 0, result.stderr);
  const dir = mkdtempSync(path.join(tmpdir(), `clickstream-${name}-`));
  return { prefix, topics: topicNames(prefix), jobId: `${prefix}job`, stateDir: path.join(dir, 'state'), dir, workers: [] };
}

export function startWorker(job: TestJob, extra: string[] = [], env: Record<string, string> = {}, options: { minuteTables?: boolean } = {}): ChildProcess {
  const child = startCli([
    'run', '--topic-prefix', job.prefix, '--job-id', job.jobId, '--state-dir', job.stateDir,
    '--idle-timeout', '3s', ...(options.minuteTables === true ? [] : ['--no-minute-tables']), '--brokers', brokers, ...extra,
  ], env);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    workerLogTails.set(child, stderr.slice(-LOG_TAIL_CHARS));
  });
  child.stdout!.resume();
  child.on('exit', (code, signal) => {
    if (code !== 0 && code !== null && signal === null) process.stderr.write(`worker exited with ${code}: ${stderr}\n`);
  });
  job.workers.push(child);
  return child;
}

/** The last characters each worker wrote to stderr: printed when its job's output falls short. */
const workerLogTails = new WeakMap<ChildProcess, string>();
const LOG_TAIL_CHARS = 4_000;

export function stopWorker(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** Resolves with the signal that ended the process (null: it exited by itself), or rejects after `timeoutMs`. */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<NodeJS.Signals | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`process ${child.pid} still running after ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (_code, signal) => {
      clearTimeout(timer);
      resolve(signal);
    });
  });
}

export async function stopAll(job: TestJob): Promise<void> {
  await Promise.all(job.workers.map((worker) => stopWorker(worker)));
}

export async function produce(job: TestJob, args: string[], logName = 'clicks.jsonl'): Promise<string> {
  const log = path.join(job.dir, logName);
  const result = await runCli(['produce', '--topic', job.topics.clicks, '--log', log, '--brokers', brokers, ...args]);
  assert.equal(result.code, 0, result.stderr);
  return log;
}

export function readClickLog(file: string): OracleClick[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const c = JSON.parse(line) as { p: number; url: string; ts: number };
      return { partition: c.p, url: c.url, ts: c.ts };
    });
}

/** Per window and key, the count of its highest revision (what a reader keeps). */
export interface JobOutput {
  counts: Map<string, number>;
  totals: Map<number, number>;
  stats: Map<string, number>;
  /** Records repeating a (window, key, revision) already read: each byte-identical. */
  duplicates: number;
  /** Revisions after the first (allowed lateness): corrections, and final results. */
  revisions: number;
  records: number;
}

interface Revisioned {
  count: number;
  revision?: number;
  final?: boolean;
}

function collect<K>(map: Map<K, number>, raw: Map<string, Buffer>, highest: Map<K, { revision: number; final: boolean }>, key: K, result: Revisioned, value: Buffer, output: JobOutput): void {
  const revision = result.revision ?? 0;
  const id = `${String(key)}#${revision}`;
  const seen = raw.get(id);
  if (seen !== undefined) {
    assert.ok(seen.equals(value), `duplicate record for ${String(key)}, revision ${revision}, is not byte-identical`);
    output.duplicates++;
  } else if (revision > 0) output.revisions++;
  raw.set(id, value);
  const top = highest.get(key);
  if (top !== undefined) assert.ok(!(top.final && revision > top.revision), `${String(key)}: revision ${revision} after the final ${top.revision}`);
  if (top === undefined || revision > top.revision) {
    highest.set(key, { revision, final: result.final === true });
    map.set(key, result.count);
  }
}

/** Every window's highest revision is final (the job's last word on it). */
function assertAllFinal<K>(highest: Map<K, { revision: number; final: boolean }>, topic: string): void {
  for (const [key, top] of highest) assert.ok(top.final, `${topic} ${String(key)}: highest revision ${top.revision} is not final`);
}

/**
 * Reads the three output topics until they hold every window the oracle expects, or no record came
 * for `quietMs`. The default outlasts the job's longest legitimate pause: a worker killed inside a
 * transaction holds its partitions until the broker aborts it (20 s transaction timeout, plus up to
 * 10 s for the broker's abort check, plus 10 s session timeout and the changelog restore).
 */
export async function readOutput(job: TestJob, expected: Expected, partitions = 4, quietMs = 60_000): Promise<JobOutput> {
  const output: JobOutput = { counts: new Map(), totals: new Map(), stats: new Map(), duplicates: 0, revisions: 0, records: 0 };
  // Replays after crashes and restores duplicate records, corrections revise them: wait for the
  // final result of every window, not for records.
  const distinct = (want: number, decode: (value: Buffer) => string | undefined) => (messages: Message[]) => {
    const keys = new Set<string>();
    for (const m of messages) {
      const key = decode(m.value!);
      if (key !== undefined) keys.add(key);
    }
    return keys.size >= want;
  };
  const finalKey = (result: { final?: boolean }, key: string): string | undefined => (result.final === true ? key : undefined);
  const [counts, totals, stats] = await Promise.all([
    readTopic(job.topics.counts, partitions, distinct(expected.counts.size, (v) => { const c = windowCountCodec.decode(v); return finalKey(c, `${c.windowStart}|${c.url}`); }), quietMs),
    readTopic(job.topics.total, 1, distinct(expected.totals.size, (v) => { const t = windowTotalCodec.decode(v); return finalKey(t, String(t.windowStart)); }), quietMs),
    readTopic(job.topics.urlStats, partitions, distinct(expected.stats.size, (v) => { const s = urlStatsCodec.decode(v); return finalKey(s, `${s.windowStart}|${s.url}`); }), quietMs),
  ]);
  reportShortfall(job, expected, { counts, totals, stats }, quietMs);
  const raw = { counts: new Map<string, Buffer>(), totals: new Map<string, Buffer>(), stats: new Map<string, Buffer>() };
  const highest = { counts: new Map<string, { revision: number; final: boolean }>(), totals: new Map<number, { revision: number; final: boolean }>(), stats: new Map<string, { revision: number; final: boolean }>() };
  for (const m of counts) {
    const c = windowCountCodec.decode(m.value!);
    assert.equal(c.windowEnd - c.windowStart, 5_000);
    assert.equal(String(m.key), c.url);
    collect(output.counts, raw.counts, highest.counts, `${c.windowStart}|${c.url}`, c, m.value!, output);
  }
  for (const m of totals) {
    const t = windowTotalCodec.decode(m.value!);
    assert.equal(t.windowEnd - t.windowStart, 10_000);
    collect(output.totals, raw.totals, highest.totals, t.windowStart, t, m.value!, output);
  }
  for (const m of stats) {
    const s = urlStatsCodec.decode(m.value!);
    assert.equal(s.windowEnd - s.windowStart, 60_000);
    assert.equal(s.known, !s.url.startsWith('/unlisted/'), `join of ${s.url}`);
    collect(output.stats, raw.stats, highest.stats, `${s.windowStart}|${s.url}`, s, m.value!, output);
  }
  assertAllFinal(highest.counts, 'counts');
  assertAllFinal(highest.totals, 'total');
  assertAllFinal(highest.stats, 'url-stats');
  output.records = counts.length + totals.length + stats.length;
  return output;
}

/**
 * When the reader gave up (no record for `quietMs`) before every window the oracle expects was
 * final, says so on stderr with the workers' last log lines: the assertion that follows shows
 * what is missing, this what the job was doing (a stall, or a window closed late).
 */
function reportShortfall(job: TestJob, expected: Expected, read: Record<'counts' | 'totals' | 'stats', Message[]>, quietMs: number): void {
  const finalKeys = (messages: Message[], key: (value: Buffer) => string | undefined): number => new Set(messages.map((m) => key(m.value!)).filter((k) => k !== undefined)).size;
  const final = {
    counts: finalKeys(read.counts, (v) => { const c = windowCountCodec.decode(v); return c.final === true ? `${c.windowStart}|${c.url}` : undefined; }),
    totals: finalKeys(read.totals, (v) => { const t = windowTotalCodec.decode(v); return t.final === true ? String(t.windowStart) : undefined; }),
    stats: finalKeys(read.stats, (v) => { const s = urlStatsCodec.decode(v); return s.final === true ? `${s.windowStart}|${s.url}` : undefined; }),
  };
  if (final.counts >= expected.counts.size && final.totals >= expected.totals.size && final.stats >= expected.stats.size) return;
  const lastAt = Math.max(0, ...[...read.counts, ...read.totals, ...read.stats].map((m) => m.timestamp ?? 0));
  const lines = [
    `readOutput(${job.prefix}): no output for ${quietMs / 1000} s with final windows counts ${final.counts}/${expected.counts.size}, total ${final.totals}/${expected.totals.size}, url-stats ${final.stats}/${expected.stats.size}; last output record written ${lastAt > 0 ? `${Math.round((Date.now() - lastAt) / 1000)} s ago` : 'never'}`,
  ];
  for (const [i, worker] of job.workers.entries()) {
    lines.push(`--- worker ${i} (pid ${worker.pid}, ${worker.exitCode !== null || worker.signalCode !== null ? `exited ${worker.exitCode ?? worker.signalCode}` : 'running'}), last stderr:`, workerLogTails.get(worker) ?? '(nothing)');
  }
  process.stderr.write(`${lines.join('\n')}\n`);
}

export function assertOutputEqualsOracle(output: JobOutput, expected: Expected): void {
  assert.ok(expected.counts.size > 0 && expected.totals.size > 0 && expected.stats.size > 0, 'the oracle expects windows');
  assert.deepEqual(output.counts, expected.counts, 'counts (5 s per url)');
  assert.deepEqual(output.totals, expected.totals, 'total (10 s sliding by 5 s)');
  assert.deepEqual(output.stats, expected.stats, 'url-stats (1 minute per url)');
}

export function oracleFor(logFile: string, options: OracleOptions = {}): Expected {
  return expectedWindows(readClickLog(logFile), options);
}
