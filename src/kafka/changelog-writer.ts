// Writes checkpoints to the changelog topics in at-least-once mode, where outputs are not
// transactional: a producer of its own, whose transaction holds each checkpoint's changelog
// records together with the input offsets they cover (committed to the consumer group with its
// generation), so the changelog and the group's offsets move together or not at all (see
// state/changelog.ts for why a moved task is exact). In exactly-once mode the records go into the
// worker's one transaction instead.

import { CODES, Producer, connectClient, disconnect, type ProducerClient } from './clients.js';
import type { MemberOf } from './stage-consumers.js';
import { FencedError, Transactions, type OffsetWithMetadata } from './transactions.js';
import { producerConfig } from './producer-config.js';
import type { ChangelogRecord } from '../state/changelog.js';
import type { TransactionalIdentity } from '../state/worker-slot.js';
import { logger } from '../log.js';

export interface ChangelogBatch {
  topic: string;
  partition: number;
  records: ChangelogRecord[];
}

export type { TransactionalIdentity };

const log = logger('changelog');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A producer that can make no more calls: another producer registered its id, or a fatal error. */
function isFenced(err: unknown): boolean {
  return err instanceof FencedError || (err as { code?: number }).code === CODES.ERRORS.ERR__FATAL;
}

export class ChangelogWriter {
  private producer!: ProducerClient;
  private transactions!: Transactions;
  private broken = false;
  private fenced = false;

  private constructor(
    private readonly brokers: string,
    private readonly clientId: string,
    private readonly identity: TransactionalIdentity,
    private readonly transactionTimeoutMs: number,
  ) {}

  static async open(brokers: string, clientId: string, identity: TransactionalIdentity, transactionTimeoutMs: number): Promise<ChangelogWriter> {
    const writer = new ChangelogWriter(brokers, clientId, identity, transactionTimeoutMs);
    try {
      await writer.connect(30_000);
    } catch (err) {
      // Connected but not registered (the broker refused the transaction timeout, or its
      // coordinator did not answer): nobody else holds this producer to close it.
      await writer.close();
      throw err;
    }
    return writer;
  }

  private async connect(timeoutMs: number): Promise<void> {
    if (this.fenced) {
      // Another live worker registered the id (a copied state dir), or the broker ended a
      // transaction that outlived its timeout: either way a new id ends any tug of war.
      log.info('changelog producer fenced: continuing under a new transactional id', { transactionalId: this.identity.renew() });
      this.fenced = false;
    }
    this.producer = new Producer({
      ...producerConfig(this.brokers, this.clientId),
      'transactional.id': `${this.identity.transactionalId()}-changelog`,
      'transaction.timeout.ms': this.transactionTimeoutMs,
      'message.timeout.ms': this.transactionTimeoutMs,
      // A checkpoint's records are all produced, then the commit flushes them at once (flush
      // ignores the linger): a linger longer than producing them takes sends one request per
      // partition and checkpoint instead of one per 5 ms (2 M realistic clicks sent ~430 before).
      'linger.ms': 1_000,
    });
    await connectClient(this.producer, this.brokers);
    this.transactions = new Transactions(this.producer);
    await this.transactions.init(timeoutMs);
    this.broken = false;
  }

  /**
   * Writes every batch and commits `offsets` (the input offsets the batches' markers name) to
   * the consumer's group, in one transaction. False, with nothing visible, if it did not commit:
   * the caller then writes neither its store nor anything else of the checkpoint.
   */
  async write(batches: ChangelogBatch[], offsets: OffsetWithMetadata[], memberOf: MemberOf | undefined, timeoutMs: number, beforeCommit: () => void = () => undefined): Promise<boolean> {
    const deadline = Date.now() + timeoutMs; // one deadline for everything: a revocation waits on it
    try {
      if (this.broken) {
        await Promise.race([disconnect(this.producer), sleep(2_000)]);
        await this.connect(Math.max(1_000, deadline - Date.now()));
      }
      await this.transactions.begin();
      for (const batch of batches) {
        // Synchronous while librdkafka's queue takes them (no await per record: ~300k per 5 M clicks).
        for (const record of batch.records) if (!this.tryProduce(batch.topic, batch.partition, record)) await this.produce(batch.topic, batch.partition, record, deadline);
      }
      const outcome = await this.transactions.commit(offsets, memberOf, Math.max(1_000, deadline - Date.now()), beforeCommit);
      if (outcome.committed) return true;
      // Not aborted here: after a timed-out commit librdkafka refuses an abort (the commit may
      // still complete). A new producer registering the id settles it either way.
      log.debug('changelog transaction not committed', { reason: outcome.reason });
      this.broken = true;
      return false;
    } catch (err) {
      // Fenced (a timed-out transaction bumps the epoch, or another live worker registered the
      // id) or an abort that failed: start over with a new producer next time; the caller keeps
      // the changes for the next checkpoint.
      this.broken = true;
      this.fenced = isFenced(err);
      log.debug('changelog write failed', { reason: (err as Error).message, fenced: this.fenced });
      return false;
    }
  }

  /** False if librdkafka's queue is full; any other refusal is thrown. */
  private tryProduce(topic: string, partition: number, record: ChangelogRecord): boolean {
    try {
      this.producer.produce(topic, partition, record.value, record.key);
      return true;
    } catch (err) {
      if ((err as { code?: number }).code !== CODES.ERRORS.ERR__QUEUE_FULL) throw err;
      return false;
    }
  }

  /** Waits for room in the queue (until the deadline) and produces the record. */
  private async produce(topic: string, partition: number, record: ChangelogRecord, deadline: number): Promise<void> {
    for (;;) {
      if (Date.now() >= deadline) throw new Error(`changelog: librdkafka's queue stayed full until the checkpoint's deadline (${topic} [${partition}])`);
      this.producer.poll();
      await sleep(5);
      if (this.tryProduce(topic, partition, record)) return;
    }
  }

  async close(): Promise<void> {
    await Promise.race([disconnect(this.producer), sleep(5_000)]);
  }
}
