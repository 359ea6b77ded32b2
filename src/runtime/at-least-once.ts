// At-least-once delivery: outputs are written as they come and flushed at each checkpoint; a
// worker that crashes replays from its last checkpoint and re-emits byte-identical records, so
// the outputs deduplicated by (window, key) are exact.
//
// The commit order of a checkpoint (checkpointAtLeastOnce), written down once:
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

import { tunables } from '../config.js';
import { disconnect, flush, type ConsumerClient, type Flushable, type ProducerClient } from '../kafka/clients.js';
import type { ChangelogWriter } from '../kafka/changelog-writer.js';
import { offsetsByMember, type MemberOf } from '../kafka/stage-consumers.js';
import { crashPoint } from './crash-points.js';
import { changelogBatches, hasNewInput, inputOffsets, notCommitted, prepare, storeWriteError, type ChangelogSink, type CheckpointReport, type CheckpointedTask, type TaskCheckpoint } from './checkpoint.js';
import type { CheckpointKind, DeliveryMode } from './delivery-mode.js';
import type { OutputSink } from './output-sink.js';
import type { Task } from './tasks.js';

/**
 * An at-least-once checkpoint of `tasks` (the order is in the header). `commitSync`: without a
 * changelog, wait for the group commit (a final checkpoint or a revocation: the next owner reads it).
 */
export async function checkpointAtLeastOnce(
  id: number,
  tasks: Iterable<CheckpointedTask>,
  producer: Flushable,
  /** The member of the group that commits a topic's offsets (without the changelog). */
  memberOf: ((topic: string) => Pick<ConsumerClient, 'commit' | 'commitSync'>) | undefined,
  flushTimeoutMs: number,
  commitSync = false,
  changelog?: ChangelogSink,
): Promise<CheckpointReport> {
  const startedAtMs = Date.now();
  const started = performance.now();
  const taskList = [...tasks];
  const progressed = hasNewInput(taskList);
  try {
    await flush(producer, flushTimeoutMs);
  } catch (err) {
    return notCommitted(id, startedAtMs, started, 'skipped', (err as Error).message, performance.now() - started);
  }
  const kafkaWaitMs = performance.now() - started;
  crashPoint('after-flush', progressed);

  const work = taskList.map((task) => prepare(task, changelog?.writer));
  const offsets = inputOffsets(taskList, '');
  if (changelog !== undefined) {
    // The changelog and the group's offsets first, together: a store is never ahead of them.
    const batches = changelogBatches(work, changelog);
    if (batches.length > 0 && !(await changelog.write(batches, offsets, () => crashPoint('in-changelog-transaction', progressed)))) {
      for (const w of work) w.task.unsavedChanges = w.changes.size > 0 ? w.changes : undefined;
      return notCommitted(id, startedAtMs, started, 'skipped', 'changelog transaction did not commit', kafkaWaitMs);
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
        const write = await task.store.checkpoint(changes, task.nextOffset, stamp);
        task.checkpointedOffset = task.nextOffset;
        return { stage: task.stage, partition: task.partition, nextOffset: task.nextOffset, bytes: write.bytes, keys: write.keys };
      } catch (err) {
        throw storeWriteError(task.store.location, err);
      }
    }),
  );
  crashPoint('after-state-batch', progressed);

  if (changelog === undefined && memberOf !== undefined && offsets.length > 0) {
    const plain = offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset }));
    for (const { consumer, offsets: owned } of offsetsByMember(plain, memberOf)) {
      try {
        if (commitSync) consumer.commitSync(owned);
        else consumer.commit(owned);
      } catch {
        // Only a fallback: tasks resume from their stores. The next checkpoint commits again.
      }
    }
  }
  crashPoint('after-offset-commit', progressed);
  const bytes = written.reduce((sum, t) => sum + t.bytes, 0);
  return { id, startedAtMs, durationMs: performance.now() - started, kafkaWaitMs, bytes, tasks: written, status: 'completed' };
}

/** How long each kind of checkpoint may wait for Kafka. */
export function checkpointTimeoutMs(kind: CheckpointKind): number {
  if (kind === 'final') return tunables.finalFlushTimeoutMs;
  if (kind === 'revocation') return tunables.revocationFlushTimeoutMs;
  return tunables.flushTimeoutMs;
}

export class AtLeastOnce implements DeliveryMode {
  readonly name = 'at-least-once';
  readonly recovering = false;
  private checkpointSeq = 0;

  constructor(
    readonly producer: ProducerClient,
    private readonly memberOf: MemberOf,
    private readonly sink: OutputSink,
    private readonly changelog: { writer: ChangelogWriter; writerId: string; topicOf: (task: CheckpointedTask) => string } | undefined,
  ) {}

  async start(): Promise<void> {}

  async checkpoint(tasks: Task[], kind: CheckpointKind): Promise<CheckpointReport | undefined> {
    if (tasks.length === 0) return undefined;
    const id = ++this.checkpointSeq;
    const timeoutMs = checkpointTimeoutMs(kind);
    if (!(await this.sink.drain(timeoutMs))) return notCommitted(id, Date.now(), performance.now(), 'skipped', 'producer queue did not drain');
    return checkpointAtLeastOnce(id, tasks, this.producer, this.memberOf, timeoutMs, kind !== 'periodic', this.changelogSink(timeoutMs));
  }

  private changelogSink(timeoutMs: number): ChangelogSink | undefined {
    if (this.changelog === undefined) return undefined;
    const { writer, writerId, topicOf } = this.changelog;
    return { writer: writerId, topicOf, write: (batches, offsets, beforeCommit) => writer.write(batches, offsets, this.memberOf, timeoutMs, beforeCommit) };
  }

  partitionsLost(): void {
    // Nothing in flight to undo: the next owner replays from the last checkpoint.
  }

  async recover(): Promise<void> {}

  async finish(timeoutMs: number): Promise<void> {
    await this.sink.drain(timeoutMs);
    await flush(this.producer, timeoutMs).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.changelog?.writer.close();
    await Promise.race([disconnect(this.producer), new Promise((resolve) => setTimeout(resolve, 10_000))]);
  }
}
