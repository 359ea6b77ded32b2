// Reads of the group's committed offsets of partitions, whose answers everything a task's opening
// asks shares (the staged checkpoint's outcome, the changelog's choice, where to resume). A read
// can take long: while a previous owner's transaction holds a partition's offsets (it was killed
// inside one), librdkafka's stable read (KIP-447) waits until the broker aborts it, after the
// transaction timeout. The loop must not wait with it: the group's next rebalance needs every
// member to poll, so the whole group would wait for this worker, and the transaction can end only
// once that rebalance does (CI once saw a five-minute stall, until max.poll.interval.ms). Nor may
// reads pile up in the background: each holds one of libuv's four threads while it waits, which
// consume() and LevelDB need too. So reads are short, and the task manager keeps at most one
// going for the partitions still waiting (task-manager.ts).

import type { ConsumerClient } from '../kafka/clients.js';
import { TaskNotReadyError } from './not-ready.js';

/** A committed offset and its metadata (the token of the transaction that committed it). */
export type CommittedOffset = { token: string | undefined; offset: number | undefined };

/** The committed offset was not read (yet) within the time the caller gave it. */
export class OffsetNotReadyError extends TaskNotReadyError {
  constructor(message: string) {
    super('offset', message);
  }
}

/** How long one read may wait for unstable offsets before it fails (and is tried again later). */
export const COMMITTED_READ_MS = 2_000;

/** One read of some partitions' committed offsets (one request), running from its construction. */
export class OffsetRead {
  settled = false;
  private readonly values = new Map<string, CommittedOffset>();
  private error: Error | undefined;
  private readonly done: Promise<void>;

  constructor(consumer: Pick<ConsumerClient, 'committed'>, readonly partitions: ReadonlyArray<{ topic: string; partition: number }>, timeoutMs = COMMITTED_READ_MS) {
    this.done = new Promise((resolve) => {
      if (partitions.length === 0) {
        this.settled = true;
        resolve();
        return;
      }
      consumer.committed(
        partitions.map(({ topic, partition }) => ({ topic, partition })),
        timeoutMs,
        (err, offsets) => {
          this.settled = true;
          if (err) this.error = err instanceof Error ? err : new Error(String((err as { message?: unknown }).message ?? err));
          else {
            for (const { topic, partition, offset, metadata } of offsets) {
              this.values.set(`${topic}:${partition}`, { token: metadata ?? undefined, offset: offset !== undefined && offset >= 0 ? offset : undefined });
            }
          }
          resolve();
        },
      );
    });
  }

  /** Whether the read ended without offsets (another read has to be started to try again). */
  get failed(): boolean {
    return this.settled && this.error !== undefined;
  }

  /** Why the read has no offsets, for the log. */
  get reason(): string {
    return this.settled ? (this.error?.message ?? 'not in the answer') : 'still being read';
  }

  /** A partition's offset, waiting for the read until `deadlineMs` (epoch ms) at most; else OffsetNotReadyError. */
  async get(topic: string, partition: number, deadlineMs: number): Promise<CommittedOffset> {
    if (!this.settled) {
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadlineMs - Date.now()))));
      await Promise.race([this.done, waited]);
      clearTimeout(timer);
    }
    const value = this.values.get(`${topic}:${partition}`);
    if (value !== undefined) return value;
    throw new OffsetNotReadyError(`committed offset of ${topic}-${partition} not readable: ${this.reason}`);
  }
}
