// Watermark alignment in a catch-up of skewed partitions. librdkafka fetches partitions by
// bytes, so a partition with fewer clicks per second of event time runs ahead in event time; the
// merge stage then holds every row it sends until the trailing partition passes it. With
// --max-watermark-drift the worker stops fetching a partition that far ahead of the slowest until
// the slowest is half as far behind. Pausing and resuming a partition again and again must not
// lose or repeat a click: the windows equal the oracle's, in both delivery modes. (How far ahead
// a partition still gets is the drift plus what librdkafka had prefetched for it, up to 50,000
// records: at this test's size that is most of partition 1, so the bound itself is measured by
// the benchmark, on 20 M clicks, not here.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer, commonConfig, connectClient, disconnect, flush } from '../../src/kafka/clients.js';
import { clickCodec } from '../../src/codec/messages.js';
import { parseWorkerStatus } from '../../src/runtime/status-parse.js';
import type { WorkerStatus } from '../../src/runtime/status.js';
import { assertOutputEqualsOracle, createJob, readOutput, startWorker, stopAll, type TestJob } from '../support/job.js';
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

for (const mode of ['at-least-once', 'exactly-once'] as const) test(`${mode}: a partition running ahead in event time is paused and resumed, and every window is exact`, async () => {
  const job = await createJob(`alignment-${mode === 'exactly-once' ? 'eos' : 'alo'}`, 2);
  try {
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 - SPAN_MS - 600_000;
    const clicks: OracleClick[] = [];
    // Partition 0: 100 clicks per second of event time; partition 1: 20. Read at the same pace in
    // records, partition 1 gets five times as far in event time.
    for (let ms = 0; ms < SPAN_MS; ms += 10) clicks.push({ partition: 0, url: '/', ts: t0 + ms });
    for (let ms = 0; ms < SPAN_MS; ms += 50) clicks.push({ partition: 1, url: '/products', ts: t0 + ms + 7 });
    const producer = new Producer(commonConfig(brokers, 'test-alignment'));
    await connectClient(producer, brokers);
    for (const [i, c] of clicks.entries()) {
      producer.produce(job.topics.clicks, c.partition, Buffer.from(clickCodec.encode({ url: c.url, timestampMs: c.ts, userId: 'u', sessionId: 's', region: 'eu', referrer: '' })), c.url);
      if (i % 50_000 === 49_999) await flush(producer, 30_000); // librdkafka's queue holds 100,000
    }
    await flush(producer, 30_000);
    await disconnect(producer);

    // Frequent checkpoints (and transactions): pauses and resumes fall between them.
    // (The drift in use is at least --max-future + --idle-timeout + 1 minute: no click here is
    // dated ahead of its record, so --max-future 0 leaves it at 63 s.)
    startWorker(job, ['--max-watermark-drift', `${DRIFT_MS / 1000}s`, '--max-future', '0', '--checkpoint-interval', '250ms', ...(mode === 'exactly-once' ? ['--exactly-once'] : [])]);
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
