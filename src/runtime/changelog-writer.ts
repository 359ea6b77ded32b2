// Writes checkpoints to the changelog topics in at-least-once mode, where outputs are not
// transactional: a producer of its own, whose transactions make each checkpoint's changelog
// records visible all at once or not at all (see state/changelog.ts). In exactly-once mode the
// records go into the worker's one transaction instead.

import { CODES, Producer, connectClient, disconnect, type ProducerClient } from '../kafka/clients.js';
import { FencedError, Transactions } from '../kafka/transactions.js';
import { producerConfig } from '../producer/send.js';
import type { ChangelogRecord } from '../state/changelog.js';
import { logger } from '../log.js';

export interface ChangelogBatch {
  topic: string;
  partition: number;
  records: ChangelogRecord[];
}

const log = logger('changelog');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class ChangelogWriter {
  private producer!: ProducerClient;
  private transactions!: Transactions;
  private broken = false;

  private constructor(
    private readonly brokers: string,
    private readonly settings: Record<string, string | number | boolean>,
  ) {}

  static async open(brokers: string, clientId: string, transactionalId: string, transactionTimeoutMs = 30_000): Promise<ChangelogWriter> {
    const writer = new ChangelogWriter(brokers, {
      ...producerConfig(brokers, clientId),
      'transactional.id': transactionalId,
      'transaction.timeout.ms': transactionTimeoutMs,
      'message.timeout.ms': transactionTimeoutMs,
      'linger.ms': 5,
    });
    await writer.connect(30_000);
    return writer;
  }

  private async connect(timeoutMs: number): Promise<void> {
    this.producer = new Producer(this.settings);
    await connectClient(this.producer, this.brokers);
    this.transactions = new Transactions(this.producer);
    await this.transactions.init(timeoutMs);
    this.broken = false;
  }

  /** Writes every batch in one transaction; false (and nothing visible) if it did not commit. */
  async write(batches: ChangelogBatch[], timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs; // one deadline for everything: a revocation waits on it
    try {
      if (this.broken) {
        await Promise.race([disconnect(this.producer), sleep(2_000)]);
        await this.connect(Math.max(1_000, deadline - Date.now()));
      }
      await this.transactions.begin();
      for (const batch of batches) {
        for (const record of batch.records) await this.produce(batch.topic, batch.partition, record, deadline);
      }
      const outcome = await this.transactions.commit([], undefined, Math.max(1_000, deadline - Date.now()));
      if (outcome.committed) return true;
      // Not aborted here: after a timed-out commit librdkafka refuses an abort (the commit may
      // still complete). A new producer registering the id settles it either way.
      log.debug('changelog transaction not committed', { reason: outcome.reason });
      this.broken = true;
      return false;
    } catch (err) {
      // Fenced (a timed-out transaction bumps the epoch) or an abort that failed: start over with
      // a new producer next time; the caller keeps the changes for the next checkpoint.
      this.broken = true;
      log.debug('changelog write failed', { reason: (err as Error).message, fenced: err instanceof FencedError });
      return false;
    }
  }

  private async produce(topic: string, partition: number, record: ChangelogRecord, deadline: number): Promise<void> {
    for (;;) {
      try {
        this.producer.produce(topic, partition, record.value, record.key, null, undefined, record.headers);
        return;
      } catch (err) {
        if ((err as { code?: number }).code !== CODES.ERRORS.ERR__QUEUE_FULL || Date.now() >= deadline) throw err;
        this.producer.poll();
        await sleep(5);
      }
    }
  }

  async close(): Promise<void> {
    await Promise.race([disconnect(this.producer), sleep(5_000)]);
  }
}
