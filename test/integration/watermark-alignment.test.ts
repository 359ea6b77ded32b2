// Watermark alignment in a catch-up of skewed partitions. librdkafka fetches partitions by
// bytes, so a partition with fewer clicks per second of event time runs ahead in event time; the
// merge stage then holds every row it sends until the trailing partition passes it. With
// --max-watermark-drift the worker stops fetching a partition that far ahead of the slowest until
// the slowest is half as far behind. Pausing and resuming a partition again and again must not
// lose or repeat a click: the windows equal the oracle's, in both delivery modes. (How far ahead
// a partition still gets is the drift plus what librdkafka had prefetched for it, up to 50,000
// records: at this test's size that is most of partition 1, so the bound itself is measured by
// the benchmark, on 20 M clicks, not here.) With two workers, each learns of the other's partition
// only through its merge task (every source sends its watermark to every merge partition): it
// must pause on that view, and the windows stay exact.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer, commonConfig, connectClient, disconnect, flush } from '../../src/kafka/clients.js';
import { clickCodec } from '../../src/codec/messages.js';
import { parseWorkerStatus } from '../../src/runtime/status-parse.js';
import type { WorkerStatus } from '../../src/runtime/status.js';
import { settledShares } from '../support/group.js';
import { assertOutputEqualsOracle, createJob, readOutput, startWorker, stopAll, stopWorker, type TestJob } from '../support/job.js';
import { collectLog, waitForLine, type LogLine } from '../support/worker-log.js';
import { brokers, readTopic, waitForCommittedEnd } from '../support/kafka.js';
import { expectedWindows, type OracleClick } from '../support/oracle.js';

const SPAN_MS = 3_000_000; // 50 minutes of event time on both partitions
const DRIFT_MS = 60_000;

/** Every status the job's workers published, in order (read once they have stopped). */
async function statuses(job: TestJob): Promise<WorkerStatus[]> {
  const records = await readTopic(job.topics.status, 1, () => false, 3_000);
  return records.flatMap((record) => {
    const parsed = record.value === null || record.value === undefined ? undefined : parseWorkerStatus(JSON.parse(record.value.toString()));
    return parsed !== undefined && 'status' in parsed ? [parsed.status] : [];
  });
}

/**
 * Partition 0: 100 clicks per second of event time; partition 1: 20, over the same 50 minutes.
 * Read at the same pace in records, partition 1 gets five times as far in event time.
 */
function skewedClicks(): OracleClick[] {
  const t0 = Math.floor(Date.now() / 60_000) * 60_000 - SPAN_MS - 600_000;
  const clicks: OracleClick[] = [];
  for (let ms = 0; ms < SPAN_MS; ms += 10) clicks.push({ partition: 0, url: '/', ts: t0 + ms });
  for (let ms = 0; ms < SPAN_MS; ms += 50) clicks.push({ partition: 1, url: '/products', ts: t0 + ms + 7 });
  return clicks;
}

async function produceClicks(job: TestJob, clicks: OracleClick[]): Promise<void> {
  const producer = new Producer(commonConfig(brokers, 'test-alignment'));
  await connectClient(producer, brokers);
  for (const [i, c] of clicks.entries()) {
    producer.produce(job.topics.clicks, c.partition, Buffer.from(clickCodec.encode({ url: c.url, timestampMs: c.ts, userId: 'u', sessionId: 's', region: 'eu', referrer: '' })), c.url);
    if (i % 50_000 === 49_999) await flush(producer, 30_000); // librdkafka's queue holds 100,000
  }
  await flush(producer, 30_000);
  await disconnect(producer);
}

// (The drift in use is at least --max-future + --idle-timeout + 1 minute: no click here is
// dated ahead of its record, so --max-future 0 leaves it at 63 s.)
const ALIGNED = ['--max-watermark-drift', `${DRIFT_MS / 1000}s`, '--max-future', '0'];

for (const mode of ['at-least-once', 'exactly-once'] as const) test(`${mode}: a partition running ahead in event time is paused and resumed, and every window is exact`, async () => {
  const job = await createJob(`alignment-${mode === 'exactly-once' ? 'eos' : 'alo'}`, 2);
  try {
    const clicks = skewedClicks();
    await produceClicks(job, clicks);
    // Frequent checkpoints (and transactions): pauses and resumes fall between them.
    startWorker(job, [...ALIGNED, '--checkpoint-interval', '250ms', ...(mode === 'exactly-once' ? ['--exactly-once'] : [])]);
    const read = await waitForCommittedEnd(job.jobId, job.topics.clicks, 2, 180_000);
    assert.deepEqual(read.committed, read.end, 'the catch-up committed every click');
    const expected = expectedWindows(clicks);
    assertOutputEqualsOracle(await readOutput(job, expected, 2), expected);

    // Stopped, the worker publishes no more statuses: the status topic has an end to read to.
    await stopAll(job);
    const published = await statuses(job);
    const pauses = Math.max(...published.map((status) => status.metrics.alignmentPauses ?? 0));
    assert.ok(pauses >= 1, `partition 1 was paused at least once (${pauses} pauses)`);
  } finally {
    await stopAll(job);
  }
});

const twoWorkerCases = [
  { fault: 'none', mode: 'at-least-once' },
  { fault: 'kill -9', mode: 'at-least-once' },
  // Pauses with a read in flight are what can hand a record out twice (record-processor.ts): under
  // exactly-once a click counted twice would be a duplicate no reader can tell from a count.
  { fault: 'kill -9', mode: 'exactly-once' },
] as const;

for (const { fault, mode } of twoWorkerCases) test(`two workers${fault === 'none' ? '' : ', the first to pause killed with SIGKILL'}, ${mode}: a worker pauses its partition on what its merge task heard of the other's, and every window is exact`, async () => {
  const job = await createJob(`alignment-two-${fault === 'none' ? 'ok' : 'kill'}-${mode === 'exactly-once' ? 'eos' : 'alo'}`, 2);
  try {
    // Frequent checkpoints: watermarks reach the merge tasks (and the other worker) soon. A longer
    // idle timeout: the partitions are empty until the group has settled, and one called idle
    // before its first click would let the other close windows without it (then its first
    // clicks are late, as they should be, but not what the oracle counts). The drift in use is
    // then 80 s.
    const flags = [...ALIGNED, '--checkpoint-interval', '250ms', '--idle-timeout', '20s', ...(mode === 'exactly-once' ? ['--exactly-once'] : [])];
    const workers = [startWorker(job, flags, { CLICKSTREAM_LOG: 'debug' }), startWorker(job, flags, { CLICKSTREAM_LOG: 'debug' })];
    const logs = workers.map((worker) => collectLog(worker));
    const shares = await settledShares(job, workers, 2);
    assert.deepEqual([...shares.values()].map((share) => share.source), [1, 1], 'each worker holds one source partition');
    // Both partitions at the same pace in records, one after the other (neither waits long enough
    // for its worker to call it idle): partition 1 runs ahead in event time from the first second.
    const clicks = skewedClicks();
    const [ahead, behind] = [clicks.filter((c) => c.partition === 1), clicks.filter((c) => c.partition === 0)];
    const producing = produceClicks(job, [...behind.slice(0, ahead.length).flatMap((c, i) => [c, ahead[i]!]), ...behind.slice(ahead.length)]);
    if (fault === 'kill -9') {
      // The paused partition moves to the other worker, from the victim's last checkpoint.
      const pausedAt = (lines: LogLine[]) => waitForLine(lines, (line) => line.msg === 'watermark alignment' && (line.paused as number[]).length > 0, 120_000, 'a pause');
      const victim = await Promise.any(logs.map((lines, i) => pausedAt(lines).then((line) => ({ i, line }))));
      assert.equal((victim.line.sources as unknown[]).length, 1, 'the pausing worker held one source partition');
      await stopWorker(workers[victim.i]!, 'SIGKILL');
    }
    await producing;
    const read = await waitForCommittedEnd(job.jobId, job.topics.clicks, 2, 180_000);
    assert.deepEqual(read.committed, read.end, 'the catch-up committed every click');
    const expected = expectedWindows(clicks);
    const output = await readOutput(job, expected, 2);
    assertOutputEqualsOracle(output, expected);
    if (mode === 'exactly-once') assert.equal(output.duplicates, 0, 'a read_committed reader sees each window once');
    if (fault === 'kill -9') return;

    // Statuses from before the stop only: a worker still stopping may be handed the other's.
    const stoppingAt = Date.now();
    await stopAll(job);
    const published = (await statuses(job)).filter((status) => status.updatedAt < stoppingAt);
    // A worker holding one source partition is its own slowest: it pauses it only on a slower
    // partition it heard of from its merge task. (Both may pause in turn: the views lag by a
    // checkpoint, which in a catch-up is minutes of event time, more than this test's drift.)
    const paused = published.filter((status) => (status.metrics.alignmentPauses ?? 0) > 0);
    assert.ok(paused.length > 0, 'a worker paused its partition');
    for (const status of paused) {
      const sources = status.tasks.filter((t) => t.stage === 'source').map((t) => t.partition);
      assert.equal(sources.length, 1, `worker ${status.worker} paused while holding source partitions ${sources.join(', ')}`);
    }
  } finally {
    await stopAll(job);
  }
});
