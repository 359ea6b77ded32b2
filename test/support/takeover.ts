// The "machines replaced" scenario of issue 12, shared by its integration test and the by-hand
// loop (`node dist/chaos/takeover.js`): a backlog of clicks keyed by user, two workers with state
// dirs of their own; during catch-up the first is killed (-9) and not restarted, a third starts
// with an empty state dir, then the second is killed and a fourth starts with an empty state dir.
// Every task changes hands at least once onto a worker that has only the changelog to go by.
// The output is compared with the oracle; the caller decides what a mismatch means.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { Producer, commonConfig, connectClient, disconnect, flush } from '../../src/kafka/clients.js';
import { createJob, oracleFor, produce, readOutput, startWorker, stopAll, stopWorker, type JobOutput } from './job.js';
import { brokers } from './kafka.js';
import type { Expected } from './oracle.js';

export interface TakeoverOptions {
  /** Clicks in the backlog (before any worker starts). */
  clicks: number;
  seed: number;
  exactlyOnce: boolean;
  /** Time between the steps (kill, start, kill + start). */
  stepMs: number;
  key?: 'user' | 'url' | 'none';
  /** Records in `clicks` that are not clicks (they go to the dead-letter topic). */
  garbage?: number;
}

export interface TakeoverRun {
  expected: Expected;
  output: JobOutput;
  /** Each worker's stderr (its log), in start order. */
  logs: string[];
}

/** Bytes that are no Click, one per partition in turn, among the clicks. */
async function writeGarbage(topic: string, count: number): Promise<void> {
  if (count === 0) return;
  const producer = new Producer(commonConfig(brokers, 'takeover-garbage'));
  await connectClient(producer, brokers);
  for (let i = 0; i < count; i++) producer.produce(topic, i % 4, Buffer.from(`not a click #${i}`), `garbage-${i}`);
  await flush(producer, 10_000);
  await disconnect(producer);
}

export async function runTakeover(options: TakeoverOptions): Promise<TakeoverRun> {
  const job = await createJob(`takeover-${options.seed}`);
  const logs: string[] = [];
  const machine = (): ChildProcess => {
    const stateDir = path.join(mkdtempSync(path.join(tmpdir(), 'clickstream-machine-')), 'state');
    const worker = startWorker(job, ['--state-dir', stateDir, ...(options.exactlyOnce ? ['--exactly-once'] : [])]);
    const index = logs.push('') - 1;
    worker.stderr!.on('data', (chunk: Buffer) => (logs[index] += chunk.toString()));
    return worker;
  };
  try {
    const clickLog = await produce(job, [
      '--rate', '0', '--count', String(options.clicks), '--event-rate', '5000', '--seed', String(options.seed),
      '--key', options.key ?? 'user', '--late-share', '0',
    ]);
    await writeGarbage(job.topics.clicks, options.garbage ?? 10);
    const first = machine();
    const second = machine();
    await sleep(options.stepMs);
    await stopWorker(first, 'SIGKILL');
    await sleep(options.stepMs);
    machine();
    await sleep(options.stepMs);
    await stopWorker(second, 'SIGKILL');
    machine();
    const expected = oracleFor(clickLog);
    const output = await readOutput(job, expected);
    return { expected, output, logs };
  } finally {
    await stopAll(job);
  }
}

/** What differs from the oracle, in a few words per output (empty: exact). */
export function differences(run: TakeoverRun): string[] {
  const found: string[] = [];
  const compare = <K>(name: string, got: Map<K, number>, want: Map<K, number>): void => {
    let low = 0;
    let high = 0;
    let missing = 0;
    let extra = 0;
    let lostClicks = 0;
    for (const [key, count] of want) {
      const seen = got.get(key);
      if (seen === undefined) {
        missing++;
        lostClicks += count;
      } else if (seen < count) {
        low++;
        lostClicks += count - seen;
      } else if (seen > count) high++;
    }
    for (const key of got.keys()) if (!want.has(key)) extra++;
    if (low + high + missing + extra > 0) found.push(`${name}: ${low} low, ${high} high, ${missing} missing, ${extra} unexpected windows (${lostClicks} clicks short)`);
  };
  compare('counts', run.output.counts, run.expected.counts);
  compare('total', run.output.totals, run.expected.totals);
  compare('url-stats', run.output.stats, run.expected.stats);
  return found;
}
