// The end of a catch-up over two workers does not wait for a periodic checkpoint. The worker whose
// partitions hold less of the backlog finishes first and settles; the other goes on for a while,
// and what its source tasks forward is merged on both. Its own end is checkpointed at once
// (CatchUpCheckpoints), but the first worker merged the tail of it too, and left those partials'
// offsets to its next periodic checkpoint: "every offset committed" came up to a checkpoint
// interval late. The second worker's source tasks now flag their last marker as caught up, and a
// merge task reading it checkpoints early. With the periodic checkpoint 10 minutes away (and
// partitions that never go idle, so no release of held watermarks helps), every partial must
// still be committed within seconds. In exactly-once mode the flagged markers are in the
// announcing checkpoint's transaction, and the other worker reads them once it commits.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer, commonConfig, connectClient, disconnect, flush } from '../../src/kafka/clients.js';
import { clickCodec } from '../../src/codec/messages.js';
import { createJob, startWorker, stopAll } from '../support/job.js';
import { settledShares } from '../support/group.js';
import { brokers, uniqueName, waitForCommittedEnd } from '../support/kafka.js';
import { Transactions } from '../../src/kafka/transactions.js';

for (const mode of ['at-least-once', 'exactly-once'] as const) test(`${mode}, two workers: the merge stage commits the tail of the other worker's catch-up without waiting for the periodic checkpoint`, async () => {
  const exactlyOnce = mode === 'exactly-once';
  const job = await createJob(`catch-up-tail-${exactlyOnce ? 'eos' : 'alo'}`, 2);
  try {
    // Settled first: each worker holds one source and one merge partition before the backlog
    // comes, so the worker with partition 1 (a tenth of the clicks) finishes long before the other.
    const workers = [0, 1].map(() => startWorker(job, ['--checkpoint-interval', '10m', '--idle-timeout', '10m', ...(exactlyOnce ? ['--exactly-once'] : [])]));
    const shares = await settledShares(job, workers, 2);
    for (const share of shares.values()) assert.deepEqual(share, { source: 1, merge: 1 });

    // Produced in one transaction: the workers see the whole backlog at once. Produced as it
    // goes, partition 1 (one click in eleven) came slowly enough for its worker to keep up, in
    // partial batches: live traffic to the job, checkpointed on the periodic schedule (here 10
    // minutes), and its clicks were not committed at all (seen under load, in a loop).
    const t0 = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;
    const producer = new Producer({ ...commonConfig(brokers, 'test-catch-up-tail'), 'transactional.id': uniqueName('test-catch-up-tail'), 'transaction.timeout.ms': 300_000 });
    await connectClient(producer, brokers);
    const transaction = new Transactions(producer);
    await transaction.init(30_000);
    await transaction.begin();
    const encoded = (url: string, ts: number) => Buffer.from(clickCodec.encode({ url, timestampMs: ts, userId: 'u', sessionId: 's', region: 'eu', referrer: '' }));
    for (let i = 0; i < 600_000; i++) {
      producer.produce(job.topics.clicks, 0, encoded(`/p${i % 50}`, t0 + i * 5), null);
      if (i % 10 === 0) producer.produce(job.topics.clicks, 1, encoded(`/q${i % 30}`, t0 + i * 5), null);
      if (i % 50_000 === 49_999) await flush(producer, 30_000);
    }
    assert.deepEqual(await transaction.commit([], undefined, 30_000), { committed: true });
    await disconnect(producer);

    // (Each partition of the clicks ends in the transaction's commit marker.)
    const clicksRead = await waitForCommittedEnd(job.jobId, job.topics.clicks, 2, 180_000, 1);
    assert.deepEqual(clicksRead.committed, clicksRead.end.map((end) => end - 1), 'the catch-up committed the clicks');
    // The last partials reach the other worker within a fetch; its early checkpoint follows.
    // (Exactly-once: each partition ends with the last transaction's commit marker.)
    const slack = exactlyOnce ? 1 : 0;
    const partialsMerged = await waitForCommittedEnd(job.jobId, job.topics.partials, 2, 20_000, slack);
    assert.deepEqual(partialsMerged.committed, partialsMerged.end.map((end) => end - slack), 'both merge partitions committed every partial');
  } finally {
    await stopAll(job);
  }
});
