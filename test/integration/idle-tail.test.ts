// The end of a catch-up does not wait for a periodic checkpoint when partitions go idle at it. A
// source task whose partition goes quiet closes its last panes when it is found idle and sends
// them at once, but holds its new watermark until a checkpoint has made the idle close durable;
// the merge stage's offsets for those panes and watermarks are the last ones the job has to
// commit. With the periodic checkpoint far away (10 minutes here), they must still be committed
// at once: at the end of a catch-up the partitions that run out first go idle one after another,
// and each tail waiting for the next periodic checkpoint made "every offset committed" seconds late.
// Under exactly-once the released watermarks go into the open transaction, where no merge task
// sees them until it commits: the release itself has to be checkpointed at once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer, commonConfig, connectClient, disconnect, flush } from '../../src/kafka/clients.js';
import { clickCodec } from '../../src/codec/messages.js';
import { assertOutputEqualsOracle, createJob, readOutput, startWorker, stopAll } from '../support/job.js';
import { brokers, waitForCommittedEnd } from '../support/kafka.js';
import { expectedWindows, type OracleClick } from '../support/oracle.js';

for (const mode of ['at-least-once', 'exactly-once'] as const) test(`${mode}: partials released by idle partitions are committed by the merge stage without waiting for the periodic checkpoint`, async () => {
  const exactlyOnce = mode === 'exactly-once';
  const job = await createJob(`idle-tail-${exactlyOnce ? 'eos' : 'alo'}`, 2);
  try {
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 180_000;
    const clicks: OracleClick[] = [];
    // A backlog (full batches of 1,000 clicks: a catch-up) of 30 s of event time.
    for (let ts = t0; ts <= t0 + 30_000; ts += 5) {
      clicks.push({ partition: 0, url: '/', ts }, { partition: 1, url: '/products', ts: ts + 2 });
    }
    const producer = new Producer(commonConfig(brokers, 'test-idle-tail'));
    await connectClient(producer, brokers);
    for (const c of clicks) producer.produce(job.topics.clicks, c.partition, Buffer.from(clickCodec.encode({ url: c.url, timestampMs: c.ts, userId: 'u', sessionId: 's', region: 'eu', referrer: '' })), c.url);
    await flush(producer, 10_000);
    await disconnect(producer);

    // (This --idle-timeout overrides the 3 s startWorker gives every test worker.)
    startWorker(job, ['--checkpoint-interval', '10m', '--idle-timeout', '2s', ...(exactlyOnce ? ['--exactly-once'] : [])]);
    // The catch-up's own early checkpoints commit the clicks.
    const clicksRead = await waitForCommittedEnd(job.jobId, job.topics.clicks, 2, 90_000);
    assert.deepEqual(clicksRead.committed, clicksRead.end, 'the catch-up committed the clicks');
    // Both partitions go idle 2 s later: their last windows are emitted once their panes and
    // then their watermarks are merged (so every window there is says the idle close was merged)...
    const expected = expectedWindows(clicks);
    assertOutputEqualsOracle(await readOutput(job, expected, 2), expected);
    // ...and the merge stage's offsets for those partials are committed, well before the
    // 10 minute checkpoint. (The partials of a transaction end in its commit marker: slack 1.)
    const slack = exactlyOnce ? 1 : 0;
    const partialsMerged = await waitForCommittedEnd(job.jobId, job.topics.partials, 2, 30_000, slack);
    assert.deepEqual(partialsMerged.committed, partialsMerged.end.map((end) => end - slack), 'the merge stage committed the released partials');
  } finally {
    await stopAll(job);
  }
});
