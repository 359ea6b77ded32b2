import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StageConsumers, offsetsByMember } from '../../../src/kafka/stage-consumers.js';
import type { ConsumerClient } from '../../../src/kafka/clients.js';

const source = { name: 'source' } as unknown as ConsumerClient;
const merge = { name: 'merge' } as unknown as ConsumerClient;
const members = new StageConsumers(source, merge, 'clicks');

test('each topic belongs to its stage\'s member', () => {
  assert.equal(members.of('clicks'), source);
  assert.equal(members.of('partials'), merge);
  assert.equal(members.stageOf('clicks'), 'source');
  assert.equal(members.stageOf('partials'), 'merge');
});

test('offsets are split by the member that commits them, each keeping its order', () => {
  const offsets = [
    { topic: 'clicks', partition: 1, offset: 10 },
    { topic: 'partials', partition: 0, offset: 5 },
    { topic: 'clicks', partition: 3, offset: 30 },
  ];
  const split = offsetsByMember(offsets, (topic) => members.of(topic));
  assert.deepEqual(split.map((group) => group.consumer), [source, merge]);
  assert.deepEqual(split[0]!.offsets.map((o) => o.partition), [1, 3]);
  assert.deepEqual(split[1]!.offsets.map((o) => o.partition), [0]);
  assert.deepEqual(offsetsByMember([], (topic) => members.of(topic)), [], 'nothing to send, no call');
});
