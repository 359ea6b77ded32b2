// The exactly-once commit path, with an in-memory store and a Kafka whose transactions are
// visible only once committed: a crash at each of its points, then a restart that settles the
// staged checkpoint by the group's committed token, leaves the store exactly where Kafka is: the
// state that covers the committed input, never more, never less.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkpointInTransaction } from '../../../src/runtime/exactly-once.js';
import { armCrashPoint, crashPoints } from '../../../src/runtime/crash-points.js';
import { MemoryKafka, memoryTask } from '../../support/memory-checkpoint.js';

class SimulatedCrash extends Error {}

/** What a restarted worker does first: settle the staged checkpoint by the group's committed token. */
async function restart(kafka: MemoryKafka, store: ReturnType<typeof memoryTask>['store']) {
  kafka.abortOpen(); // registering the transactional id again aborts what the dead process left open
  return store.resolvePending(async () => kafka.groupOffset(0)?.metadata);
}

test('a checkpoint commits outputs, changelog and offsets together, then promotes the staged state', async () => {
  const kafka = new MemoryKafka();
  const { task, store, read } = memoryTask(0);
  read(100, { 'pane!a': '1' });
  const report = await checkpointInTransaction(1, 'w1:t:1', [task], kafka.transactions(), undefined, 1_000, kafka.transactionalChangelogSink());
  assert.equal(report.status, 'completed');
  assert.deepEqual(kafka.groupOffset(0), { topic: 'clicks', partition: 0, offset: 100, metadata: 'w1:t:1' });
  assert.deepEqual(kafka.changelog(0).marker, { seq: 1, writer: 'w1', nextOffset: 100 });
  assert.equal(store.staged, undefined, 'promoted');
  assert.deepEqual(store.stamp, kafka.changelog(0).marker);
  assert.deepEqual(store.sorted(), [['pane!a', '1']]);
});

test('a transaction that does not commit leaves the staged checkpoint to be discarded and Kafka unchanged', async () => {
  const kafka = new MemoryKafka();
  const { task, store, read } = memoryTask(0);
  read(100, { 'pane!a': '1' });
  await checkpointInTransaction(1, 'w1:t:1', [task], kafka.transactions(), undefined, 1_000, kafka.transactionalChangelogSink());
  read(200, { 'pane!a': '2' });
  kafka.failing = true;
  const report = await checkpointInTransaction(2, 'w1:t:2', [task], kafka.transactions(), undefined, 1_000, kafka.transactionalChangelogSink());
  assert.equal(report.status, 'aborted');
  assert.equal(kafka.groupOffset(0)?.offset, 100);
  assert.equal(await restart(kafka, store), 'discarded');
  assert.equal(store.nextOffset, 100);
  assert.deepEqual(store.sorted(), [['pane!a', '1']]);
});

for (const point of crashPoints.filter((p) => p.startsWith('eos-'))) {
  test(`a crash at ${point}, then a restart: the store holds exactly what Kafka committed`, async () => {
    const kafka = new MemoryKafka();
    const { task, store, read } = memoryTask(0);
    read(100, { 'pane!a': '1', 'pane!b': '2' });
    await checkpointInTransaction(1, 'w1:t:1', [task], kafka.transactions(), undefined, 1_000, kafka.transactionalChangelogSink());

    read(200, { 'pane!a': '5', 'pane!b': null, 'pane!c': '7' });
    armCrashPoint({ point, nth: 1 }, () => {
      throw new SimulatedCrash(point);
    });
    try {
      await assert.rejects(checkpointInTransaction(2, 'w1:t:2', [task], kafka.transactions(), undefined, 1_000, kafka.transactionalChangelogSink()), SimulatedCrash);
    } finally {
      armCrashPoint(undefined);
    }
    const resolution = await restart(kafka, store);
    const committed = kafka.groupOffset(0)!;
    const transactionCommitted = committed.metadata === 'w1:t:2';
    // Before the commit: its outputs were never visible, the task replays from checkpoint 1.
    // After it: they are, and the task must resume after them, or it would emit them again.
    assert.equal(transactionCommitted, point === 'eos-after-commit' || point === 'eos-after-promote', `the transaction committed (${point})`);
    const expected = transactionCommitted ? { offset: 200, state: [['pane!a', '5'], ['pane!c', '7']] } : { offset: 100, state: [['pane!a', '1'], ['pane!b', '2']] };
    assert.deepEqual({ offset: store.nextOffset, state: store.sorted() }, expected);
    assert.equal(committed.offset, expected.offset, 'the group resumes where the store is');
    assert.deepEqual(store.stamp, kafka.changelog(0).marker, 'the changelog is at the same checkpoint');
    assert.deepEqual([...kafka.changelog(0).entries()].sort(), expected.state);
    assert.equal(resolution, point === 'eos-after-commit' ? 'promoted' : point === 'eos-after-promote' ? 'none' : point === 'eos-before-stage' ? 'none' : 'discarded');
  });
}
