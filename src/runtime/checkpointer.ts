// The commit order, written down once. A checkpoint of a set of tasks:
//   1. flush the producer: every output record the checkpoint covers is acknowledged by Kafka;
//   1b. with the changelog: one transaction writes each task's changes and a marker (its stamp);
//   2. per task, one atomic LevelDB batch: the state changes, watermark and next input offset,
//      and the stamp of the changelog checkpoint it matches;
//   3. commit the same offsets to the consumer group (the fallback for a task with no store).
// A crash before 2 replays from the previous checkpoint and re-emits identical records; a crash
// between 2 and 3 is harmless because a task resumes from its store's offset, not the group's.
// A failed flush skips the checkpoint (state stays in memory, retried next time); a failed store
// write is fatal: the store still holds its previous checkpoint intact, and the worker restarts.
//
// A crash between 1b and 2 leaves the store behind the changelog: it is rebuilt from the changelog
// on open. A changelog write that fails leaves the store ahead of it: the store is then stamped
// as not matching any changelog checkpoint, so it is not trusted either (rebuilt from the
// changelog, the input replayed from there), and the changes go to the changelog next time.
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
  /** Writes the batches (in at-least-once mode in a transaction of their own); false if not. */
  write(batches: ChangelogBatch[]): Promise<boolean>;
}

/** One task's share of a checkpoint: its changes (taken once), and the stamp if it has a changelog. */
interface TaskWork {
  task: Task;
  changes: Map<string, string | null>;
  /** What the changelog must receive: changes it missed before, then these. */
  changelogChanges: Map<string, string | null>;
  stamp: CheckpointStamp | undefined;
}

function prepare(task: Task, writer: string | undefined): TaskWork {
  const changes = task.takeChanges();
  let changelogChanges = changes;
  if (task.changelogBacklog !== undefined) {
    changelogChanges = new Map(task.changelogBacklog);
    for (const [key, value] of changes) changelogChanges.set(key, value);
  }
  const progressed = changes.size > 0 || task.nextOffset !== task.checkpointedOffset || task.changelogBacklog !== undefined;
  const stamp = writer !== undefined && progressed ? { seq: task.seq + 1, writer, nextOffset: task.nextOffset ?? null } : undefined;
  return { task, changes, changelogChanges, stamp };
}

function changelogBatches(work: TaskWork[], sink: ChangelogSink): ChangelogBatch[] {
  return work
    .filter((w) => w.stamp !== undefined)
    .map((w) => ({ topic: sink.topicOf(w.task), partition: w.task.partition, records: checkpointRecords(w.changelogChanges, w.stamp!) }));
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
  /** Wait for the group commit (a final checkpoint or a revocation: the next owner reads it). */
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

  // The changelog first: a store is never ahead of it (a task moving elsewhere may start from it).
  const work = taskList.map((task) => prepare(task, changelog?.writer));
  if (changelog !== undefined) {
    const batches = changelogBatches(work, changelog);
    const committed = batches.length === 0 || (await changelog.write(batches));
    for (const w of work) {
      if (w.stamp === undefined) continue;
      if (committed) {
        w.task.seq = w.stamp.seq;
        w.task.changelogBacklog = undefined;
      } else {
        // The store moves on, stamped as matching no changelog checkpoint (see the header); the
        // changelog gets these changes with the next checkpoint.
        w.task.changelogBacklog = w.changelogChanges;
        w.stamp = { seq: w.task.seq, writer: `${changelog.writer}+unsynced`, nextOffset: w.task.nextOffset ?? null };
      }
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

  const offsets = taskList
    .filter((task) => task.nextOffset !== undefined)
    .map((task) => ({ topic: task.topic, partition: task.partition, offset: task.nextOffset! }));
  if (consumer !== undefined && offsets.length > 0) {
    try {
      if (commitSync) consumer.commitSync(offsets);
      else consumer.commit(offsets);
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
  if (changelog !== undefined && !(await changelog.write(changelogBatches(work, changelog)))) {
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

  const offsets: OffsetWithMetadata[] = taskList
    .filter((task) => task.nextOffset !== undefined)
    .map((task) => ({ topic: task.topic, partition: task.partition, offset: task.nextOffset!, metadata: token }));
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
      if (stamp !== undefined) {
        task.seq = stamp.seq;
        task.changelogBacklog = undefined;
      }
    }),
  );
  crashPoint('eos-after-promote', progressed);
  return { id, startedAtMs, durationMs: performance.now() - started, flushMs: commitMs, bytes, tasks: staged, status: 'completed' };
}
