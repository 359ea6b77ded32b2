// The at-least-once commit path with a changelog, with an in-memory producer, store and
// changelog: a checkpoint whose changelog transaction fails moves nothing (neither the store nor
// the group's offsets), and the next one carries what it missed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkpoint, type ChangelogSink } from '../../../src/runtime/checkpointer.js';
import type { Task } from '../../../src/runtime/tasks.js';
import type { ProducerClient } from '../../../src/kafka/clients.js';
import type { OffsetWithMetadata } from '../../../src/kafka/transactions.js';
import type { CheckpointStamp } from '../../../src/state/changelog.js';
import { MARKER_KEY } from '../../../src/state/changelog.js';
import type { ChangelogBatch } from '../../../src/runtime/changelog-writer.js';

type Changes = Map<string, string | null>;

interface MemoryStore {
  state: Map<string, string>;
  nextOffset: number | undefined;
  stamp: CheckpointStamp | undefined;
  writes: number;
}

/** A source task whose topology hands out `pending` changes and whose store lives in memory. */
function memoryTask(partition: number) {
  const store: MemoryStore = { state: new Map(), nextOffset: undefined, stamp: undefined, writes: 0 };
  let pending: Changes = new Map();
  const task = {
    stage: 'source',
    topic: 'clicks',
    partition,
    nextOffset: undefined as number | undefined,
    checkpointedOffset: undefined as number | undefined,
    seq: 0,
    unsavedChanges: undefined as Changes | undefined,
    checkpointId: 0,
    takeChanges: () => {
      const taken = pending;
      pending = new Map();
      return taken;
    },
    store: {
      location: `memory:source-${partition}`,
      checkpoint: async (changes: Changes, nextOffset: number | undefined, _id: number, stamp?: CheckpointStamp) => {
        store.writes++;
        for (const [k, v] of changes) (v === null ? store.state.delete(k) : store.state.set(k, v));
        if (nextOffset !== undefined) store.nextOffset = nextOffset;
        if (stamp !== undefined) store.stamp = stamp;
        return { bytes: 0, keys: changes.size };
      },
    },
  };
  /** The topology read up to `nextOffset` and changed `changes`. */
  const read = (nextOffset: number, changes: Record<string, string | null>) => {
    task.nextOffset = nextOffset;
    for (const [k, v] of Object.entries(changes)) pending.set(k, v);
  };
  return { task: task as unknown as Task, store, read };
}

const producer = { flush: (_timeout: number, cb: (err: Error | null) => void) => cb(null) } as unknown as ProducerClient;

/** A changelog whose transactions fail while `failing` is set; committed ones are folded per partition. */
function memoryChangelog() {
  const committed: Array<{ batches: ChangelogBatch[]; offsets: OffsetWithMetadata[] }> = [];
  const sink = {
    failing: false,
    writer: 'w1',
    topicOf: () => 'changelog-source',
    write: async (batches: ChangelogBatch[], offsets: OffsetWithMetadata[]) => {
      if (sink.failing) return false;
      committed.push({ batches, offsets });
      return true;
    },
  };
  /** The changelog's state and last marker of a partition, as a new owner would fold them. */
  const fold = (partition: number) => {
    const state = new Map<string, string>();
    let marker: CheckpointStamp | undefined;
    for (const { batches } of committed) {
      for (const batch of batches.filter((b) => b.partition === partition)) {
        for (const r of batch.records) {
          if (r.key === MARKER_KEY) marker = JSON.parse(r.value!.toString()) as CheckpointStamp;
          else if (r.value === null) state.delete(r.key);
          else state.set(r.key, r.value.toString());
        }
      }
    }
    return { state, marker };
  };
  /** The group's committed offset of a partition. */
  const groupOffset = (partition: number) => committed.flatMap((c) => c.offsets).filter((o) => o.partition === partition).at(-1)?.offset;
  return { sink: sink as ChangelogSink & { failing: boolean }, fold, groupOffset, committed };
}

test('a failed changelog transaction moves neither the store nor the group; the next checkpoint carries its changes', async () => {
  const changelog = memoryChangelog();
  const { task, store, read } = memoryTask(0);

  read(100, { 'pane!a': '1', 'pane!b': '2' });
  assert.equal((await checkpoint(1, [task], producer, undefined, 1_000, false, changelog.sink)).status, 'completed');
  assert.deepEqual(changelog.fold(0).marker, { seq: 1, writer: 'w1', nextOffset: 100 });
  assert.equal(changelog.groupOffset(0), 100, 'the group offset commits with the marker');

  read(200, { 'pane!a': '5', 'pane!b': null, 'pane!c': '7' });
  changelog.sink.failing = true;
  const skipped = await checkpoint(2, [task], producer, undefined, 1_000, false, changelog.sink);
  assert.equal(skipped.status, 'skipped');
  assert.equal(store.nextOffset, 100, 'the store did not run ahead of the changelog');
  assert.deepEqual(store.stamp, { seq: 1, writer: 'w1', nextOffset: 100 });
  assert.deepEqual([...store.state].sort(), [['pane!a', '1'], ['pane!b', '2']]);
  assert.equal(changelog.groupOffset(0), 100, 'the group offset did not run ahead of the changelog');

  read(300, { 'pane!c': '8', 'pane!d': '9' });
  changelog.sink.failing = false;
  assert.equal((await checkpoint(3, [task], producer, undefined, 1_000, false, changelog.sink)).status, 'completed');
  const expected = [['pane!a', '5'], ['pane!c', '8'], ['pane!d', '9']];
  assert.deepEqual([...changelog.fold(0).state].sort(), expected, 'the changelog holds the missed changes too');
  assert.deepEqual([...store.state].sort(), expected);
  assert.deepEqual(changelog.fold(0).marker, { seq: 2, writer: 'w1', nextOffset: 300 });
  assert.deepEqual(store.stamp, changelog.fold(0).marker, 'store and changelog at the same checkpoint');
  assert.equal(changelog.groupOffset(0), 300);
  assert.equal(task.unsavedChanges, undefined);
});

test('every committed marker names the offset the group got in the same transaction', async () => {
  const changelog = memoryChangelog();
  const tasks = [memoryTask(0), memoryTask(1)];
  for (let round = 1; round <= 6; round++) {
    for (const t of tasks) t.read(round * 10 + t.task.partition, { [`k${round % 3}`]: String(round) });
    changelog.sink.failing = round % 3 === 2;
    await checkpoint(round, tasks.map((t) => t.task), producer, undefined, 1_000, false, changelog.sink);
  }
  assert.ok(changelog.committed.length >= 3);
  for (const { batches, offsets } of changelog.committed) {
    for (const batch of batches) {
      const marker = JSON.parse(batch.records.at(-1)!.value!.toString()) as CheckpointStamp;
      assert.equal(offsets.find((o) => o.partition === batch.partition)?.offset, marker.nextOffset);
    }
  }
  for (const t of tasks) assert.deepEqual(t.store.stamp, changelog.fold(t.task.partition).marker);
});
