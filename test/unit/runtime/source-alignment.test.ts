import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignSources, type AlignmentTasks } from '../../../src/runtime/source-alignment.js';
import type { MergeTask, SourceTask } from '../../../src/runtime/tasks.js';
import { emptyOutput, MergeWindows } from '../../../src/topology/merge-windows.js';
import { IdlenessTracker } from '../../../src/topology/watermark.js';
import type { AlignmentChanges } from '../../../src/topology/watermark-alignment.js';
import { jobWindows } from '../../../src/config.js';

const MIN = 60_000;

/** A task manager of one worker: its source partitions at their watermarks, one merge task that heard `heard`. */
function worker(own: Record<number, number>, heard: Record<number, number>, sourcePartitions = 4) {
  const sources: Array<SourceTask | undefined> = [];
  for (const [partition, watermarkMs] of Object.entries(own)) {
    sources[Number(partition)] = { partition: Number(partition), topology: { watermarkMs }, idleness: new IdlenessTracker(10_000, 0) } as unknown as SourceTask;
  }
  const windows = new MergeWindows(jobWindows, sourcePartitions);
  for (const [partition, watermarkMs] of Object.entries(heard)) windows.updateSource(Number(partition), watermarkMs, false, emptyOutput());
  const merges = [{ topology: { windows } } as unknown as MergeTask];
  const aligned = new Set<number>();
  const applied: AlignmentChanges[] = [];
  const tasks: AlignmentTasks = {
    alignedPartitions: aligned,
    sourceTasks: sources,
    mergeTasks: merges,
    source: (partition) => sources[partition],
    align(changes) {
      applied.push(changes);
      for (const p of changes.pause) aligned.add(p);
      for (const p of changes.resume) aligned.delete(p);
      return changes.pause.length;
    },
  } as AlignmentTasks;
  return { tasks, aligned, applied };
}

test("the worker's own partitions count as they are, not as its merge task last heard of them", () => {
  // Partition 0 is this worker's, at 100 min; its merge task heard it at 10 min (partials in
  // flight). Partitions 1-3 (another worker's) were heard at 95-97 min. Taking the merge task's
  // view of partition 0 would make it the slowest by 90 min, and pause 0 on its own past.
  const { tasks, aligned } = worker({ 0: 100 * MIN }, { 0: 10 * MIN, 1: 95 * MIN, 2: 96 * MIN, 3: 97 * MIN });
  assert.equal(alignSources(tasks, 15 * MIN, 0), 0);
  assert.deepEqual([...aligned], []);
});

test("another worker's trailing partition, as the merge task heard it, pauses this worker's", () => {
  const { tasks, aligned } = worker({ 0: 100 * MIN, 1: 99 * MIN }, { 2: 60 * MIN, 3: 98 * MIN });
  assert.equal(alignSources(tasks, 15 * MIN, 0), 2);
  assert.deepEqual([...aligned].sort(), [0, 1]);
});

test('a partition paused for alignment is kept from going idle (it is behind, not quiet)', () => {
  const { tasks } = worker({ 0: 100 * MIN, 1: 50 * MIN }, {});
  alignSources(tasks, 15 * MIN, 0);
  const paused = tasks.source(0)!;
  // Long past the idle timeout with nothing read: still not quiet, as alignment postponed it.
  alignSources(tasks, 15 * MIN, 60_000);
  assert.equal(paused.idleness.quietLongEnough(60_000), false);
  assert.equal(tasks.source(1)!.idleness.quietLongEnough(60_000), true, 'the partition read and quiet is');
});

test('alignment off with nothing held does nothing at all', () => {
  const { tasks, applied } = worker({ 0: 100 * MIN, 1: 0 }, {});
  assert.equal(alignSources(tasks, 0, 0), 0);
  assert.deepEqual(applied, []);
});
