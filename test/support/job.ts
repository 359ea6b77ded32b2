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
import { expectedWindows, type Expected, type OracleClick } from './oracle.js';

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
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout!.resume();
  child.on('exit', (code, signal) => {
    if (code !== 0 && code !== null && signal === null) process.stderr.write(`worker exited with ${code}: ${stderr}\n`);
  });
  job.workers.push(child);
  return child;
}

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

export interface JobOutput {
  counts: Map<string, number>;
  totals: Map<number, number>;
  stats: Map<string, number>;
  duplicates: number;
  records: number;
}

function collect<K>(map: Map<K, number>, raw: Map<K, Buffer>, key: K, count: number, value: Buffer, output: JobOutput): void {
  const seen = raw.get(key);
  if (seen !== undefined) {
    assert.ok(seen.equals(value), `duplicate record for ${String(key)} is not byte-identical`);
    output.duplicates++;
  }
  raw.set(key, value);
  map.set(key, count);
}

/**
 * Reads the three output topics until they hold every window the oracle expects, or no record came
 * for `quietMs`. The default outlasts the job's longest legitimate pause: a worker killed inside a
 * transaction holds its partitions until the broker aborts it (20 s transaction timeout, plus up to
 * 10 s for the broker's abort check, plus 10 s session timeout and the changelog restore).
 */
export async function readOutput(job: TestJob, expected: Expected, partitions = 4, quietMs = 60_000): Promise<JobOutput> {
  const output: JobOutput = { counts: new Map(), totals: new Map(), stats: new Map(), duplicates: 0, records: 0 };
  // Replays after crashes and restores duplicate records: wait for distinct windows, not records.
  const distinct = (want: number, decode: (value: Buffer) => string) => (messages: Message[]) => new Set(messages.map((m) => decode(m.value!))).size >= want;
  const [counts, totals, stats] = await Promise.all([
    readTopic(job.topics.counts, partitions, distinct(expected.counts.size, (v) => { const c = windowCountCodec.decode(v); return `${c.windowStart}|${c.url}`; }), quietMs),
    readTopic(job.topics.total, 1, distinct(expected.totals.size, (v) => String(windowTotalCodec.decode(v).windowStart)), quietMs),
    readTopic(job.topics.urlStats, partitions, distinct(expected.stats.size, (v) => { const s = urlStatsCodec.decode(v); return `${s.windowStart}|${s.url}`; }), quietMs),
  ]);
  const raw = { counts: new Map<string, Buffer>(), totals: new Map<number, Buffer>(), stats: new Map<string, Buffer>() };
  for (const m of counts) {
    const c = windowCountCodec.decode(m.value!);
    assert.equal(c.windowEnd - c.windowStart, 5_000);
    assert.equal(String(m.key), c.url);
    collect(output.counts, raw.counts, `${c.windowStart}|${c.url}`, c.count, m.value!, output);
  }
  for (const m of totals) {
    const t = windowTotalCodec.decode(m.value!);
    assert.equal(t.windowEnd - t.windowStart, 10_000);
    collect(output.totals, raw.totals, t.windowStart, t.count, m.value!, output);
  }
  for (const m of stats) {
    const s = urlStatsCodec.decode(m.value!);
    assert.equal(s.windowEnd - s.windowStart, 60_000);
    assert.equal(s.known, !s.url.startsWith('/unlisted/'), `join of ${s.url}`);
    collect(output.stats, raw.stats, `${s.windowStart}|${s.url}`, s.count, m.value!, output);
  }
  output.records = counts.length + totals.length + stats.length;
  return output;
}

export function assertOutputEqualsOracle(output: JobOutput, expected: Expected): void {
  assert.ok(expected.counts.size > 0 && expected.totals.size > 0 && expected.stats.size > 0, 'the oracle expects windows');
  assert.deepEqual(output.counts, expected.counts, 'counts (5 s per url)');
  assert.deepEqual(output.totals, expected.totals, 'total (10 s sliding by 5 s)');
  assert.deepEqual(output.stats, expected.stats, 'url-stats (1 minute per url)');
}

export function oracleFor(logFile: string): Expected {
  return expectedWindows(readClickLog(logFile));
}
