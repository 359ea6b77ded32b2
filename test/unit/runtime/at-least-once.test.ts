// The at-least-once commit path, with an in-memory producer, store, group and changelog: a
// checkpoint whose changelog transaction fails moves nothing (neither the store nor the group's
// offsets), the next one carries what it missed, and a crash at any point leaves what a new owner
// rebuilds consistent with the offset it resumes at.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkpointAtLeastOnce as checkpoint } from '../../../src/runtime/at-least-once.js';
import { armCrashPoint, crashPoints } from '../../../src/runtime/crash-points.js';
import { chooseSource, resumePoint, type CheckpointStamp } from '../../../src/state/changelog.js';
import { MemoryKafka, acknowledgingProducer as producer, memoryTask } from '../../support/memory-checkpoint.js';

test('a failed changelog transaction moves neither the store nor the group; the next checkpoint carries its changes', async () => {
  const kafka = new MemoryKafka();
  const changelog = kafka.changelogSink();
  const { task, store, read } = memoryTask(0);

  read(100, { 'pane!a': '1', 'pane!b': '2' });
  assert.equal((await checkpoint(1, [task], producer, undefined, 1_000, false, changelog)).status, 'completed');
  assert.deepEqual(kafka.changelog(0).marker, { seq: 1, writer: 'w1', nextOffset: 100 });
  assert.equal(kafka.groupOffset(0)?.offset, 100, 'the group offset commits with the marker');

  read(200, { 'pane!a': '5', 'pane!b': null, 'pane!c': '7' });
  kafka.failing = true;
  const skipped = await checkpoint(2, [task], producer, undefined, 1_000, false, changelog);
  assert.equal(skipped.status, 'skipped');
  assert.equal(store.nextOffset, 100, 'the store did not run ahead of the changelog');
  assert.deepEqual(store.stamp, { seq: 1, writer: 'w1', nextOffset: 100 });
  assert.deepEqual(store.sorted(), [['pane!a', '1'], ['pane!b', '2']]);
  assert.equal(kafka.groupOffset(0)?.offset, 100, 'the group offset did not run ahead of the changelog');

  read(300, { 'pane!c': '8', 'pane!d': '9' });
  kafka.failing = false;
  assert.equal((await checkpoint(3, [task], producer, undefined, 1_000, false, changelog)).status, 'completed');
  const expected = [['pane!a', '5'], ['pane!c', '8'], ['pane!d', '9']];
  assert.deepEqual([...kafka.changelog(0).entries()].sort(), expected, 'the changelog holds the missed changes too');
  assert.deepEqual(store.sorted(), expected);
  assert.deepEqual(kafka.changelog(0).marker, { seq: 2, writer: 'w1', nextOffset: 300 });
  assert.deepEqual(store.stamp, kafka.changelog(0).marker, 'store and changelog at the same checkpoint');
  assert.equal(kafka.groupOffset(0)?.offset, 300);
  assert.equal(task.unsavedChanges, undefined);
});

test('every committed marker names the offset the group got in the same transaction', async () => {
  const kafka = new MemoryKafka();
  const tasks = [memoryTask(0), memoryTask(1)];
  for (let round = 1; round <= 6; round++) {
    for (const t of tasks) t.read(round * 10 + t.task.partition, { [`k${round % 3}`]: String(round) });
    kafka.failing = round % 3 === 2;
    await checkpoint(round, tasks.map((t) => t.task), producer, undefined, 1_000, false, kafka.changelogSink());
  }
  assert.ok(kafka.committed.length >= 3);
  for (const { batches, offsets } of kafka.committed) {
    for (const batch of batches) {
      const marker = JSON.parse(batch.records.at(-1)!.value!.toString()) as CheckpointStamp;
      assert.equal(offsets.find((o) => o.partition === batch.partition)?.offset, marker.nextOffset);
    }
  }
  for (const t of tasks) assert.deepEqual(t.store.stamp, kafka.changelog(t.task.partition).marker);
});

test('without a changelog the store is written first, then the group offset: never the other way round', async () => {
  const committed: number[] = [];
  const consumer = { commit: (offsets: Array<{ offset: number }>) => committed.push(...offsets.map((o) => o.offset)), commitSync: () => undefined };
  const { task, store, read } = memoryTask(0);
  read(100, { 'pane!a': '1' });
  await checkpoint(1, [task], producer, () => consumer as never, 1_000);
  assert.equal(store.nextOffset, 100);
  assert.deepEqual(committed, [100]);
});

class SimulatedCrash extends Error {}

for (const point of crashPoints.filter((p) => !p.startsWith('eos-'))) {
  test(`a crash at ${point}: what a new owner rebuilds is the state at the offset it resumes at`, async () => {
    const kafka = new MemoryKafka();
    const changelog = kafka.changelogSink();
    const { task, store, read } = memoryTask(0);
    read(100, { 'pane!a': '1', 'pane!b': '2' });
    await checkpoint(1, [task], producer, undefined, 1_000, false, changelog);
    const atFirst = { offset: 100, state: [['pane!a', '1'], ['pane!b', '2']] };
    const atSecond = { offset: 200, state: [['pane!a', '5'], ['pane!c', '7']] };

    read(200, { 'pane!a': '5', 'pane!b': null, 'pane!c': '7' });
    armCrashPoint({ point, nth: 1 }, () => {
      throw new SimulatedCrash(point);
    });
    try {
      await assert.rejects(checkpoint(2, [task], producer, undefined, 1_000, false, changelog), SimulatedCrash, `the crash at ${point} was reached`);
    } finally {
      armCrashPoint(undefined);
    }

    // A new owner on this machine (the store) or another (no store): either way the changelog decides.
    for (const local of [store.stamp, undefined]) {
      const remote = kafka.changelog(0);
      const source = chooseSource(local, local !== undefined, remote.marker);
      const state = source.use === 'local' ? store.sorted() : [...remote.entries()].sort();
      const offset = source.use === 'local' ? store.nextOffset : (remote.marker?.nextOffset ?? undefined);
      const resume = resumePoint(offset, kafka.groupOffset(0)?.offset);
      assert.equal(resume.from, 'checkpoint');
      const expected = resume.from === 'checkpoint' && resume.offset === 200 ? atSecond : atFirst;
      assert.deepEqual({ offset: resume.from === 'checkpoint' ? resume.offset : -1, state }, expected, `${point}, ${local === undefined ? 'another machine' : 'same machine'}`);
      assert.equal(kafka.groupOffset(0)?.offset, remote.marker?.nextOffset, 'the group offset is the changelog marker\'s');
    }
  });
}
