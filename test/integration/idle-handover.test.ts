// Idleness does not survive a handover. A partition its worker found idle stops holding windows
// open; when that worker dies, the partition's new owner has not judged it yet (its clicks may be
// merely unread), so the merge stage must hold windows for it again until the new owner finds it
// idle itself. Otherwise a partition's own clicks, on time by its watermark, arrive at the merge
// stage after their windows were emitted and are lost to every output.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Message } from '@confluentinc/kafka-javascript';
import { Producer, commonConfig, connectClient, disconnect, flush } from '../../src/kafka/clients.js';
import { clickCodec, windowCountCodec } from '../../src/codec/messages.js';
import { assertOutputEqualsOracle, createJob, readOutput, startWorker, stopAll, stopWorker, type TestJob } from '../support/job.js';
import { brokers, readTopic, waitForCommittedEnd } from '../support/kafka.js';
import { expectedWindows, type OracleClick } from '../support/oracle.js';

const clicksEverySecond = (partition: number, fromMs: number, toMs: number, url: string): OracleClick[] => {
  const clicks: OracleClick[] = [];
  for (let ts = fromMs; ts <= toMs; ts += 1_000) clicks.push({ partition, url, ts });
  return clicks;
};

async function send(job: TestJob, clicks: OracleClick[]): Promise<void> {
  const producer = new Producer(commonConfig(brokers, 'test-idle-handover'));
  await connectClient(producer, brokers);
  for (const c of clicks) producer.produce(job.topics.clicks, c.partition, Buffer.from(clickCodec.encode({ url: c.url, timestampMs: c.ts, userId: 'u', sessionId: 's', region: 'eu', referrer: '' })), c.url);
  await flush(producer, 10_000);
  await disconnect(producer);
}

/** Whether the counts topic holds the 5 s window starting at `windowStart` (waits up to 10 s for it). */
async function countsWindowEmitted(job: TestJob, windowStart: number): Promise<boolean> {
  const holds = (messages: Message[]) => messages.some((m) => windowCountCodec.decode(m.value!).windowStart === windowStart);
  return holds(await readTopic(job.topics.counts, 2, holds, 10_000));
}

test('a partition idle at a worker killed -9 holds windows again at its new owner until found idle there: its clicks count', async () => {
  const job = await createJob('idle-handover', 2);
  try {
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 180_000;
    const sent: OracleClick[] = [];
    const sendAll = async (clicks: OracleClick[]) => {
      sent.push(...clicks);
      await send(job, clicks);
    };
    // Worker A, on its own machine: partition 1 goes quiet after t0+10 s and A finds it idle, so
    // partition 0 alone closes windows (the 5 s window at t0+15 s needs partition 1 idle).
    const a = startWorker(job, ['--idle-timeout', '2s', '--state-dir', path.join(job.dir, 'machine-a')]);
    await sendAll([...clicksEverySecond(0, t0, t0 + 10_000, '/'), ...clicksEverySecond(1, t0, t0 + 10_000, '/products')]);
    // Partition 0 keeps going (a click every 300 ms: never quiet for A's idle timeout) until A dies.
    for (let ts = t0 + 11_000; ts <= t0 + 50_000; ts += 1_000) {
      await sendAll([{ partition: 0, url: '/', ts }]);
      await sleep(300);
    }
    await stopWorker(a, 'SIGKILL');
    assert.ok(await countsWindowEmitted(job, t0 + 15_000), 'A emitted windows past partition 1 (found idle)');

    // Partition 0 moves on while no worker runs; worker B, on another machine, takes both
    // partitions (from the changelog) and reads it. Partition 1 has been quiet at B for less
    // than B's idle timeout: it must still hold the windows its next clicks belong to.
    await sendAll(clicksEverySecond(0, t0 + 51_000, t0 + 90_000, '/'));
    startWorker(job, ['--idle-timeout', '20s', '--state-dir', path.join(job.dir, 'machine-b')]);
    const { committed, end } = await waitForCommittedEnd(job.jobId, job.topics.clicks, 2, 90_000);
    assert.deepEqual(committed, end, 'worker B read the clicks of partition 0');
    // Partition 1 again: on time by its own watermark (t0+15 s, where A's idle close left it) and
    // past every window A emitted (A saw partition 0 up to t0+50 s: watermark t0+30 s), but
    // behind partition 0's watermark at B (t0+70 s).
    await sendAll(clicksEverySecond(1, t0 + 36_000, t0 + 90_000, '/products'));

    const expected = expectedWindows(sent);
    assert.equal(expected.late, 0, 'no click is late by its own partition');
    assertOutputEqualsOracle(await readOutput(job, expected, 2), expected);
  } finally {
    await stopAll(job);
  }
});
