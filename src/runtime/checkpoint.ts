// What every checkpoint shares, whichever delivery mode commits it: the report a checkpoint
// leaves (for the log, the status and the dashboard), each task's share of the work (its changes
// taken once, and the changelog stamp they will carry), and the input offsets it covers. The
// commit order itself belongs to the delivery modes: at-least-once.ts and exactly-once.ts.

import { UserError } from '../errors.js';
import type { OffsetWithMetadata } from '../kafka/transactions.js';
import type { ChangelogBatch } from '../kafka/changelog-writer.js';
import { checkpointRecords, type CheckpointStamp } from '../state/changelog.js';
import type { TaskStore } from '../state/task-store.js';
import type { Task } from './tasks.js';

/** The part of a task a checkpoint reads and writes (what the unit tests fake). */
export type CheckpointedTask = Pick<Task, 'stage' | 'topic' | 'partition' | 'nextOffset' | 'checkpointedOffset' | 'seq' | 'unsavedChanges' | 'takeChanges'> & {
  readonly store: Pick<TaskStore, 'location' | 'checkpoint' | 'stage' | 'promote'>;
};

/** Where a checkpoint's changelog records go: the topic of a task, and a writer of batches. */
export interface ChangelogSink {
  /** Who writes: stamped on every checkpoint (tells two histories of a task apart). */
  writer: string;
  topicOf(task: CheckpointedTask): string;
  /**
   * At-least-once: writes the batches and commits `offsets` to the group in one transaction of
   * their own. Exactly-once: puts the batches into the open transaction (the offsets follow with
   * its commit). False if that did not happen. `beforeCommit` runs once everything is in the
   * transaction (a crash test's hook).
   */
  write(batches: ChangelogBatch[], offsets: OffsetWithMetadata[], beforeCommit?: () => void): Promise<boolean>;
}

export interface TaskCheckpoint {
  stage: Task['stage'];
  partition: number;
  nextOffset: number | undefined;
  bytes: number;
  keys: number;
}

/** What a checkpoint did: a row of the dashboard's checkpoint history. */
export interface CheckpointReport {
  id: number;
  startedAtMs: number;
  durationMs: number;
  /**
   * Time spent waiting for Kafka: the producer's acknowledgements (at-least-once) or the
   * transaction's commit (exactly-once).
   */
  kafkaWaitMs: number;
  bytes: number;
  tasks: TaskCheckpoint[];
  status: 'completed' | 'skipped' | 'aborted';
  reason?: string;
}

/** One task's share of a checkpoint: its changes (taken once), and the stamp if it has a changelog. */
export interface TaskWork {
  task: CheckpointedTask;
  /** Changes a failed checkpoint left unsaved, then the ones taken now (the later wins per key). */
  changes: Map<string, string | null>;
  stamp: CheckpointStamp | undefined;
}

export function prepare(task: CheckpointedTask, writer: string | undefined): TaskWork {
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

export function changelogBatches(work: TaskWork[], sink: ChangelogSink): ChangelogBatch[] {
  return work
    .filter((w) => w.stamp !== undefined)
    .map((w) => ({ topic: sink.topicOf(w.task), partition: w.task.partition, records: checkpointRecords(w.changes, w.stamp!) }));
}

/** The next input offset of every task that has one, for the consumer group. */
export function inputOffsets(tasks: CheckpointedTask[], metadata: string): OffsetWithMetadata[] {
  return tasks
    .filter((task) => task.nextOffset !== undefined)
    .map((task) => ({ topic: task.topic, partition: task.partition, offset: task.nextOffset!, metadata }));
}

/** Whether a checkpoint of these tasks covers input that no checkpoint covered yet (crash points fire only then). */
export function hasNewInput(tasks: CheckpointedTask[]): boolean {
  return tasks.some((task) => task.nextOffset !== task.checkpointedOffset);
}

/** A checkpoint that cannot be written (full disk, I/O error) stops the worker: one line, no stack. */
export function storeWriteError(location: string, cause: unknown): UserError {
  const detail = String((cause as Error).message ?? cause).split('\n')[0];
  return new UserError('STATE_WRITE_FAILED', `checkpoint write to state store ${location} failed (${detail}); its previous checkpoint is intact: fix the disk and restart the worker`);
}

/** A checkpoint that wrote nothing, and why. */
export function notCommitted(id: number, startedAtMs: number, started: number, status: 'skipped' | 'aborted', reason: string, kafkaWaitMs = 0): CheckpointReport {
  return { id, startedAtMs, durationMs: performance.now() - started, kafkaWaitMs, bytes: 0, tasks: [], status, reason };
}
