// Transactions.commit with a fake producer: the input offsets of a checkpoint are sent by the
// group member that owns each partition, one call after the other (librdkafka refuses
// overlapping transactional calls), before the commit; a member's refusal fails the commit.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConsumerClient, ProducerClient } from '../../../src/kafka/clients.js';
import { StageConsumers } from '../../../src/kafka/stage-consumers.js';
import { Transactions } from '../../../src/kafka/transactions.js';

const source = { name: 'source' } as unknown as ConsumerClient;
const merge = { name: 'merge' } as unknown as ConsumerClient;
const members = new StageConsumers(source, merge, 'clicks');

function fakeProducer(refuse?: ConsumerClient) {
  const calls: string[] = [];
  let inFlight = 0;
  const later = (cb: (err: unknown) => void, err: unknown = null) => {
    inFlight++;
    assert.equal(inFlight, 1, 'no overlapping transactional calls');
    setTimeout(() => {
      inFlight--;
      cb(err);
    }, 5);
  };
  const producer = {
    sendOffsetsToTransaction: (offsets: Array<{ topic: string; partition: number; offset: number }>, consumer: { name: string }, _timeout: number, cb: (err: unknown) => void) => {
      calls.push(`${consumer.name}: ${offsets.map((o) => `${o.topic}-${o.partition}@${o.offset}`).join(' ')}`);
      later(cb, consumer === (refuse as unknown) ? Object.assign(new Error('ILLEGAL_GENERATION'), { isTxnRequiresAbort: true }) : null);
    },
    commitTransaction: (_timeout: number, cb: (err: unknown) => void) => {
      calls.push('commit');
      later(cb);
    },
  };
  return { producer: producer as unknown as ProducerClient, calls };
}

const offsets = [
  { topic: 'clicks', partition: 0, offset: 10, metadata: 't' },
  { topic: 'partials', partition: 2, offset: 7, metadata: 't' },
  { topic: 'clicks', partition: 3, offset: 30, metadata: 't' },
];

test('each member sends the offsets of its own partitions, one after the other, then the transaction commits', async () => {
  const { producer, calls } = fakeProducer();
  const outcome = await new Transactions(producer).commit(offsets, (topic) => members.of(topic), 1_000);
  assert.deepEqual(outcome, { committed: true });
  assert.deepEqual(calls, ['source: clicks-0@10 clicks-3@30', 'merge: partials-2@7', 'commit']);
});

test('a member the group refuses (it lost its partitions) fails the whole transaction: nothing commits', async () => {
  const { producer, calls } = fakeProducer(merge);
  const outcome = await new Transactions(producer).commit(offsets, (topic) => members.of(topic), 1_000);
  assert.equal(outcome.committed, false);
  assert.ok(!calls.includes('commit'), calls.join(' | '));
});
