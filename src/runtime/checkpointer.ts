// The commit order, written down once. An at-least-once checkpoint of a set of tasks:
//   1. flush the producer: every output record the checkpoint covers is acknowledged by Kafka;
//   2. with the changelog: one transaction holds each task's changes and a marker (its stamp:
//      sequence number, writer, next input offset) and commits the same input offsets to the
//      consumer group, with the group generation (a worker that lost the partition is refused);
//   3. per task, one atomic LevelDB batch: the state changes, watermark and next input offset,
//      and the stamp of the changelog checkpoint it matches;
//   4. without the changelog: commit the offsets to the consumer group (the fallback for a task
//      with no store).
// A crash before 2 replays from the previous checkpoint and re-emits identical records. A crash
// between 2 and 3 leaves the store behind the changelog: it is rebuilt from the changelog on
// open. A transaction in 2 that does not commit makes the whole checkpoint skipped: neither the
// store nor the group moves, the changes wait in memory (`unsavedChanges`) for the next one. So
// the store and the group's offsets are never ahead of what the changelog lets a new owner
// rebuild (state/changelog.ts states the invariant this keeps). A failed flush skips the
// checkpoint too; a failed store write is fatal: the store still holds its previous checkpoint
// intact, and the worker restarts.
//
// Exactly-once mode (checkpointInTransaction): every output since the previous checkpoint is in
// one open Kafka transaction, the changelog records included. Then:
//   1. per task, one LevelDB batch stages the state changes and next offset, tagged with a token;
//   2. the input offsets, with the token as their metadata, join the transaction; it commits;
//   3. per task, one LevelDB batch promotes the staged checkpoint.
// A crash before the commit leaves an open transaction (aborted when the worker's transactional
// id is registered again, or at its timeout) and a staged checkpoint that is then discarded: the
// task replays from the previous checkpoint and read_committed readers never saw the outputs. A
// crash after the commit leaves a staged checkpoint whose token the group's offset carries: it is
// promoted on open, and the task resumes exactly after the committed input.

import type { ConsumerClient, ProducerClient } from '../kafka/clients.js';
import { UserError } from '../errors.js';
import { flush } from '../producer/send.js';
import type { CommitOutcome, OffsetWithMetadata, Transactions } from '../kafka/transactions.js';
import { crashPoint } from './crash-points.js';
import type { Task } from './tasks.js';
import { checkpointRecords, type CheckpointStamp } from '../state/changelog.js';
import type { ChangelogBatch } from './changelog-writer.js';

/** Where a checkpoint's changelog records go: the topic of a task, and a writer of batches. */
export interface ChangelogSink {
  /** Who writes: stamped on every checkpoint (tells two histories of a task apart). */
  writer: string;
  topicOf(task: Task): string;
  /**
   * At-least-once: writes the batches and commits `offsets` to the group in one transaction of
   * their own. Exactly-once: puts the batches into the open transaction (the offsets follow with
   * its commit). False if that did not happen.
   */
  write(batches: ChangelogBatch[], offsets: OffsetWithMetadata[]): Promise<boolean>;
}

/** One task's share of a checkpoint: its changes (taken once), and the stamp if it has a changelog. */
interface TaskWork {
  task: Task;
  /** Changes a failed checkpoint left unsaved, then the ones taken now (the later wins per key). */
  changes: Map<string, string | null>;
  stamp: CheckpointStamp | undefined;
}

function prepare(task: Task, writer: string | undefined): TaskWork {
  let changes = task.takeChanges();
  if (task.unsavedChanges !== undefined) {
    const taken = changes;
    changes = new Map(task.unsavedChanges);
    for (const [key, value] of taken) changes.set(key, value);
  }
  const progressed = changes.size > 0 || task.nextOffset !== task.checkpointedOffset;
  const stamp = writer !== undefined && progressed ? { seq: task.seq + 1, writer, nextOffset: task.nextOffset ?? null } : undefined;
  return { task, changes, stamp };
}

function changelogBatches(work: TaskWork[], sink: ChangelogSink): ChangelogBatch[] {
  return work
    .filter((w) => w.stamp !== undefined)
    .map((w) => ({ topic: sink.topicOf(w.task), partition: w.task.partition, records: checkpointRecords(w.changes, w.stamp!) }));
}

/** The next input offset of every task that has one, for the consumer group. */
function inputOffsets(tasks: Task[], metadata: string): OffsetWithMetadata[] {
  return tasks
    .filter((task) => task.nextOffset !== undefined)
    .map((task) => ({ topic: task.topic, partition: task.partition, offset: task.nextOffset!, metadata }));
}

export interface TaskCheckpoint {
  stage: Task['stage'];
  partition: number;
  nextOffset: number | undefined;
  bytes: number;
  keys: number;
}

export interface CheckpointRecord {
  id: number;
  startedAtMs: number;
  durationMs: number;
  /** Time spent waiting for the producer's acknowledgements. */
  flushMs: number;
  bytes: number;
  tasks: TaskCheckpoint[];
  status: 'completed' | 'skipped' | 'aborted';
  reason?: string;
}

/** A checkpoint that cannot be written (full disk, I/O error) stops the worker: one line, no stack. */
function storeWriteError(location: string, cause: unknown): UserError {
  const detail = String((cause as Error).message ?? cause).split('\n')[0];
  return new UserError('STATE_WRITE_FAILED', `checkpoint write to state store ${location} failed (${detail}); its previous checkpoint is intact: fix the disk and restart the worker`);
}

export async function checkpoint(
  id: number,
  tasks: Iterable<Task>,
  producer: ProducerClient,
  consumer: ConsumerClient | undefined,
  flushTimeoutMs: number,
  /** Without a changelog: wait for the group commit (a final checkpoint or a revocation: the next owner reads it). */
  commitSync = false,
  changelog?: ChangelogSink,
): Promise<CheckpointRecord> {
  const startedAtMs = Date.now();
  const started = performance.now();
  const taskList = [...tasks];
  const progressed = hasNewInput(taskList);
  try {
    await flush(producer, flushTimeoutMs);
  } catch (err) {
    return { id, startedAtMs, durationMs: performance.now() - started, flushMs: performance.now() - started, bytes: 0, tasks: [], status: 'skipped', reason: (err as Error).message };
  }
  const flushMs = performance.now() - started;
  crashPoint('after-flush', progressed);

  const work = taskList.map((task) => prepare(task, changelog?.writer));
  const offsets = inputOffsets(taskList, '');
  if (changelog !== undefined) {
    // The changelog and the group's offsets first, together: a store is never ahead of them.
    const batches = changelogBatches(work, changelog);
    if (batches.length > 0 && !(await changelog.write(batches, offsets))) {
      for (const w of work) w.task.unsavedChanges = w.changes.size > 0 ? w.changes : undefined;
      const durationMs = performance.now() - started;
      return { id, startedAtMs, durationMs, flushMs, bytes: 0, tasks: [], status: 'skipped', reason: 'changelog transaction did not commit' };
    }
    for (const w of work) {
      w.task.unsavedChanges = undefined;
      if (w.stamp !== undefined) w.task.seq = w.stamp.seq;
    }
    crashPoint('after-changelog', progressed);
  }

  const written = await Promise.all(
    work.map(async ({ task, changes, stamp }): Promise<TaskCheckpoint> => {
      try {
        const write = await task.store.checkpoint(changes, task.nextOffset, id, stamp);
        task.checkpointId = id;
        task.checkpointedOffset = task.nextOffset;
        return { stage: task.stage, partition: task.partition, nextOffset: task.nextOffset, bytes: write.bytes, keys: write.keys };
      } catch (err) {
        throw storeWriteError(task.store.location, err);
      }
    }),
  );
  crashPoint('after-state-batch', progressed);

  if (changelog === undefined && consumer !== undefined && offsets.length > 0) {
    const plain = offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset }));
    try {
      if (commitSync) consumer.commitSync(plain);
      else consumer.commit(plain);
    } catch {
      // Only a fallback: tasks resume from their stores. The next checkpoint commits again.
    }
  }
  crashPoint('after-offset-commit', progressed);
  const bytes = written.reduce((sum, t) => sum + t.bytes, 0);
  return { id, startedAtMs, durationMs: performance.now() - started, flushMs, bytes, tasks: written, status: 'completed' };
}

function hasNewInput(tasks: Task[]): boolean {
  return tasks.some((task) => task.nextOffset !== task.checkpointedOffset);
}

/**
 * An exactly-once checkpoint of every task of the worker (they share the one open transaction).
 * Returns 'aborted' when the transaction did not commit: the caller aborts it and reopens the
 * tasks from their stores (the in-memory state has moved past what Kafka holds).
 */
export async function checkpointInTransaction(
  id: number,
  token: string,
  tasks: Iterable<Task>,
  transactions: Transactions,
  consumer: ConsumerClient,
  timeoutMs: number,
  /** In this mode `write` puts the records into the open transaction (and waits until they are handed over). */
  changelog?: ChangelogSink,
): Promise<CheckpointRecord> {
  const startedAtMs = Date.now();
  const started = performance.now();
  const taskList = [...tasks];
  const progressed = hasNewInput(taskList);
  crashPoint('eos-before-stage', progressed);

  const work = taskList.map((task) => prepare(task, changelog?.writer));
  const offsets = inputOffsets(taskList, token);
  if (changelog !== undefined && !(await changelog.write(changelogBatches(work, changelog), offsets))) {
    return { id, startedAtMs, durationMs: performance.now() - started, flushMs: 0, bytes: 0, tasks: [], status: 'aborted', reason: 'changelog records could not be queued' };
  }
  const staged = await Promise.all(
    work.map(async ({ task, changes, stamp }): Promise<TaskCheckpoint> => {
      try {
        const write = await task.store.stage(changes, task.nextOffset, id, token, stamp);
        return { stage: task.stage, partition: task.partition, nextOffset: task.nextOffset, bytes: write.bytes, keys: write.keys };
      } catch (err) {
        throw storeWriteError(task.store.location, err);
      }
    }),
  );
  crashPoint('eos-after-stage', progressed);

  const commitStarted = performance.now();
  const outcome: CommitOutcome = await transactions.commit(offsets, consumer, timeoutMs, () => crashPoint('eos-after-send-offsets', progressed));
  const commitMs = performance.now() - commitStarted;
  const bytes = staged.reduce((sum, t) => sum + t.bytes, 0);
  if (!outcome.committed) {
    return { id, startedAtMs, durationMs: performance.now() - started, flushMs: commitMs, bytes: 0, tasks: [], status: 'aborted', reason: outcome.reason };
  }
  crashPoint('eos-after-commit', progressed);

  await Promise.all(
    work.map(async ({ task, stamp }) => {
      try {
        await task.store.promote();
      } catch (err) {
        throw storeWriteError(task.store.location, err);
      }
      task.checkpointId = id;
      task.checkpointedOffset = task.nextOffset;
      task.unsavedChanges = undefined;
      if (stamp !== undefined) task.seq = stamp.seq;
    }),
  );
  crashPoint('eos-after-promote', progressed);
  return { id, startedAtMs, durationMs: performance.now() - started, flushMs: commitMs, bytes, tasks: staged, status: 'completed' };
}
