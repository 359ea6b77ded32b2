// The commit order, written down once. A checkpoint of a set of tasks:
//   1. flush the producer: every output record the checkpoint covers is acknowledged by Kafka;
//   2. per task, one atomic LevelDB batch: the state changes, watermark and next input offset;
//   3. commit the same offsets to the consumer group (the fallback for a task with no store).
// A crash before 2 replays from the previous checkpoint and re-emits identical records; a crash
// between 2 and 3 is harmless because a task resumes from its store's offset, not the group's.
// A failed flush skips the checkpoint (state stays in memory, retried next time); a failed store
// write is fatal: the store still holds its previous checkpoint intact, and the worker restarts.

import type { ConsumerClient, ProducerClient } from '../kafka/clients.js';
import { flush } from '../producer/send.js';
import type { Task } from './tasks.js';

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
  status: 'completed' | 'skipped';
  reason?: string;
}

export class StoreWriteError extends Error {
  constructor(readonly location: string, cause: unknown) {
    super(`checkpoint write to ${location} failed: ${(cause as Error).message}`);
    this.name = 'StoreWriteError';
  }
}

export async function checkpoint(
  id: number,
  tasks: Iterable<Task>,
  producer: ProducerClient,
  consumer: ConsumerClient | undefined,
  flushTimeoutMs: number,
  /** Wait for the group commit (a final checkpoint or a revocation: the next owner reads it). */
  commitSync = false,
): Promise<CheckpointRecord> {
  const startedAtMs = Date.now();
  const started = performance.now();
  const taskList = [...tasks];
  try {
    await flush(producer, flushTimeoutMs);
  } catch (err) {
    return { id, startedAtMs, durationMs: performance.now() - started, flushMs: performance.now() - started, bytes: 0, tasks: [], status: 'skipped', reason: (err as Error).message };
  }
  const flushMs = performance.now() - started;

  const written = await Promise.all(
    taskList.map(async (task): Promise<TaskCheckpoint> => {
      const changes = task.takeChanges();
      try {
        const write = await task.store.checkpoint(changes, task.nextOffset, id);
        task.checkpointId = id;
        return { stage: task.stage, partition: task.partition, nextOffset: task.nextOffset, bytes: write.bytes, keys: write.keys };
      } catch (err) {
        throw new StoreWriteError(task.store.location, err);
      }
    }),
  );

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
  const bytes = written.reduce((sum, t) => sum + t.bytes, 0);
  return { id, startedAtMs, durationMs: performance.now() - started, flushMs, bytes, tasks: written, status: 'completed' };
}
