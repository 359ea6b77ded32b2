// The transactional producer's calls as promises, with librdkafka's error classes turned into
// the three outcomes a checkpoint must tell apart: committed, aborted (nothing of the transaction
// is visible), and fenced (another process took this transactional id: this one is a zombie).

import { FencedError } from '../errors.js';
import type { ProducerClient } from './clients.js';
import { offsetsByMember, type MemberOf } from './stage-consumers.js';

export { FencedError };

interface TxnError {
  message: string;
  code?: number;
  isFatal?: boolean;
  isRetriable?: boolean;
  isTxnRequiresAbort?: boolean;
}

export type CommitOutcome = { committed: true } | { committed: false; reason: string };

export interface OffsetWithMetadata {
  topic: string;
  partition: number;
  offset: number;
  metadata: string;
}

function call(run: (cb: (err: TxnError | null) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => run((err) => (err ? reject(err) : resolve())));
}

const retryPauseMs = 200;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class Transactions {
  constructor(private readonly producer: ProducerClient) {}

  /** Registers the transactional id; aborts whatever a previous holder of the id left open. */
  async init(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await call((cb) => this.producer.initTransactions(Math.max(1_000, deadline - Date.now()), cb));
        return;
      } catch (err) {
        const e = err as TxnError;
        if (e.isFatal === true) throw new FencedError(`cannot start transactions: ${e.message}`);
        if (Date.now() >= deadline) throw new Error(`cannot start transactions: ${e.message}`);
        await sleep(retryPauseMs);
      }
    }
  }

  begin(): Promise<void> {
    return call((cb) => this.producer.beginTransaction(cb)).catch((err: TxnError) => {
      throw new FencedError(`cannot begin a transaction: ${err.message}`);
    });
  }

  /**
   * Adds the input offsets to the transaction and commits it. Retriable failures are retried
   * until the deadline; then, or on an abortable failure, it reports not committed and the caller
   * aborts (the outcome may be unknown: the store's staged checkpoint is settled on reopen).
   */
  async commit(offsets: OffsetWithMetadata[], memberOf: MemberOf | undefined, timeoutMs: number, afterOffsets: () => void = () => undefined): Promise<CommitOutcome> {
    const deadline = Date.now() + timeoutMs;
    const left = () => Math.max(1_000, deadline - Date.now());
    try {
      // Each member sends the offsets of its own partitions, with its own group metadata: one
      // call after the other (librdkafka refuses overlapping transactional calls).
      for (const { consumer, offsets: owned } of memberOf === undefined ? [] : offsetsByMember(offsets, memberOf)) {
        await this.retrying(deadline, () => call((cb) => this.producer.sendOffsetsToTransaction(owned, consumer, left(), cb)));
      }
      afterOffsets();
      await this.retrying(deadline, () => call((cb) => this.producer.commitTransaction(left(), cb)));
      return { committed: true };
    } catch (err) {
      const e = err as TxnError;
      if (e.isFatal === true) throw new FencedError(`transaction failed fatally: ${e.message}`);
      return { committed: false, reason: e.message };
    }
  }

  /** Aborts the open transaction; retries until the broker answers or the deadline passes. */
  async abort(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await this.retrying(deadline, () => call((cb) => this.producer.abortTransaction(Math.max(1_000, deadline - Date.now()), cb))).catch((err: TxnError) => {
      if (err.isFatal === true) throw new FencedError(`abort failed fatally: ${err.message}`);
      throw new Error(`abort failed: ${err.message}`);
    });
  }

  private async retrying(deadline: number, run: () => Promise<void>): Promise<void> {
    for (;;) {
      try {
        return await run();
      } catch (err) {
        const e = err as TxnError;
        if (e.isFatal === true || e.isTxnRequiresAbort === true || e.isRetriable !== true || Date.now() >= deadline) throw err;
        await sleep(retryPauseMs);
      }
    }
  }
}
