// How a worker's checkpoints make its work durable: one interface, two modes, each owning its
// whole commit path (the periodic checkpoint, the one at a revocation, the final one at stop) and
// its recovery. at-least-once.ts: outputs are flushed, then state and offsets are written; a
// crash replays byte-identical records. exactly-once.ts: each checkpoint is one Kafka transaction
// holding outputs, internal records and input offsets, with a two-phase LevelDB checkpoint beside
// it. The worker loop never asks which mode it runs.

import type { ProducerClient } from '../kafka/clients.js';
import type { CheckpointReport } from './checkpoint.js';
import type { Task } from './tasks.js';

/** Why a checkpoint is taken: it decides how long it may wait for Kafka. */
export type CheckpointKind = 'periodic' | 'revocation' | 'final';

export interface DeliveryMode {
  readonly name: 'at-least-once' | 'exactly-once';
  /** The producer of every record the worker writes (exactly-once replaces a fenced one). */
  readonly producer: ProducerClient;
  /**
   * A transaction failed and awaits recovery (exactly-once): the in-memory state is ahead of what
   * Kafka holds, nothing more may go into the transaction, and the tasks must reopen.
   */
  readonly recovering: boolean;
  /** What the mode needs before the first record (exactly-once: registers its id, opens a transaction). */
  start(): Promise<void>;
  /** Checkpoints `tasks`; undefined when there was nothing to checkpoint. */
  checkpoint(tasks: Task[], kind: CheckpointKind): Promise<CheckpointReport | undefined>;
  /** The group took partitions away without a revocation: no checkpoint of them may land now. */
  partitionsLost(): void;
  /** One bounded attempt to recover from a failed transaction; `recovering` says whether it worked. */
  recover(): Promise<void>;
  /** After the final checkpoint: makes the records written since visible (flush or commit). */
  finish(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}
