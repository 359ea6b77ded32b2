// What an idle partition held for a checkpoint does not wait for the next periodic one once it
// is merged. A source task whose partition goes quiet holds its last panes until the partition is
// found idle; the checkpoint taken then releases them as partials, and the merge stage's offsets
// for those partials are the last ones the job has to commit. With the periodic checkpoint far
// away (10 minutes here), they must still be committed at once: at the end of a catch-up, the
// partitions that run out first go idle one after another, and each tail waiting for the next
// periodic checkpoint made "every offset committed" seconds late.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer, commonConfig, connectClient, disconnect, flush } from '../../src/kafka/clients.js';
import { clickCodec } from '../../src/codec/messages.js';
import { assertOutputEqualsOracle, createJob, readOutput, startWorker, stopAll } from '../support/job.js';
import { brokers, waitForCommittedEnd } from '../support/kafka.js';
import { expectedWindows, type OracleClick } from '../support/oracle.js';

test('partials released by idle partitions are committed by the merge stage without waiting for the periodic checkpoint', async () => {
  const job = await createJob('idle-tail', 2);
  try {
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 180_000;
    const clicks: OracleClick[] = [];
    for (let ts = t0; ts <= t0 + 30_000; ts += 500) {
      clicks.push({ partition: 0, url: '/', ts }, { partition: 1, url: '/products', ts: ts + 250 });
    }
    const producer = new Producer(commonConfig(brokers, 'test-idle-tail'));
    await connectClient(producer, brokers);
    for (const c of clicks) producer.produce(job.topics.clicks, c.partition, Buffer.from(clickCodec.encode({ url: c.url, timestampMs: c.ts, userId: 'u', sessionId: 's', region: 'eu', referrer: '' })), c.url);
    await flush(producer, 10_000);
    await disconnect(producer);

    startWorker(job, ['--checkpoint-interval', '10m', '--idle-timeout', '2s']);
    // The clicks' offsets go with the checkpoint the partitions' idleness takes.
    const clicksRead = await waitForCommittedEnd(job.jobId, job.topics.clicks, 2, 90_000);
    assert.deepEqual(clicksRead.committed, clicksRead.end, 'the idle checkpoint committed the clicks');
    // The last panes' partials, released by it, are merged and their offsets committed too:
    // well before the 10 minute checkpoint.
    const partialsMerged = await waitForCommittedEnd(job.jobId, job.topics.partials, 2, 30_000);
    assert.deepEqual(partialsMerged.committed, partialsMerged.end, 'the merge stage committed the released partials');

    const expected = expectedWindows(clicks);
    assertOutputEqualsOracle(await readOutput(job, expected, 2), expected);
  } finally {
    await stopAll(job);
  }
});
