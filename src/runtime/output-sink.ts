// Where every record a worker writes goes: outputs, partials, late and dead-lettered clicks,
// changelog records (exactly-once), status and savepoint chunks. It hands records to the
// producer, and while librdkafka's queue is full it queues them, in order: once one waits, every
// later record waits behind it (a watermark must never overtake the panes it covers). The worker
// pauses fetching while records wait: backpressure without blocking the event loop.

import { CODES, type ProducerClient } from '../kafka/clients.js';

import type { Headers } from '../codec/headers.js';

export type { Headers };

/** A record waiting for room in librdkafka's queue: topic, partition, value, key, headers. */
type QueuedRecord = [string, number | null, Buffer | null, string | Buffer | null, Headers | undefined];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Produce errors that are the record's fault (too large, invalid): retrying cannot help. */
const recordFaults = new Set<number>([CODES.ERRORS.ERR_MSG_SIZE_TOO_LARGE, CODES.ERRORS.ERR_INVALID_MSG_SIZE, CODES.ERRORS.ERR_INVALID_MSG, CODES.ERRORS.ERR_INVALID_RECORD, CODES.ERRORS.ERR_RECORD_LIST_TOO_LARGE]);

/** A record the producer refused for what it is; the worker dead-letters it. */
export type RefusedRecord = (topic: string, partition: number | null, value: Buffer | null, key: string | Buffer | null, error: Error) => void;

export class OutputSink {
  private overflow: QueuedRecord[] = [];
  private overflowHead = 0;
  /**
   * Set while an exactly-once transaction that failed is being recovered: records would belong
   * to it; the tasks replay them after reopening.
   */
  discarding = false;

  constructor(
    private producer: ProducerClient,
    /**
     * A produce error other than a full queue: true if the delivery mode took it as a failed
     * transaction (the records are then dropped and replayed), false to make it fatal.
     */
    private readonly onProduceError: (err: unknown) => boolean,
    /** A record refused for what it is (too large, invalid): it takes the dead-letter path. */
    private readonly onRefused: RefusedRecord = () => undefined,
  ) {}

  /** The producer that replaced a fenced or stuck one (exactly-once). */
  use(producer: ProducerClient): void {
    this.producer = producer;
  }

  /** Produces one record, or queues it behind earlier ones while librdkafka's queue is full. */
  produce(topic: string, partition: number | null, value: Buffer | null, key: string | Buffer | null, headers?: Headers): void {
    if (this.discarding) return;
    if (!this.waiting) {
      try {
        this.producer.produce(topic, partition, value, key, null, undefined, headers);
        return;
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code !== undefined && recordFaults.has(code)) return this.onRefused(topic, partition, value, key, err as Error);
        if (code !== CODES.ERRORS.ERR__QUEUE_FULL) {
          if (!this.onProduceError(err)) throw err;
          return;
        }
      }
    }
    this.overflow.push([topic, partition, value, key, headers]);
  }

  /** Records are waiting for room in the producer's queue. */
  get waiting(): boolean {
    return this.overflowHead < this.overflow.length;
  }

  /** Hands waiting records to librdkafka as its queue frees up, for at most `budgetMs`; true when all went. */
  async drain(budgetMs: number): Promise<boolean> {
    const deadline = Date.now() + budgetMs;
    while (this.waiting) {
      const [topic, partition, value, key, headers] = this.overflow[this.overflowHead]!;
      try {
        this.producer.produce(topic, partition, value, key, null, undefined, headers);
        this.overflowHead++;
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code !== undefined && recordFaults.has(code)) {
          this.overflowHead++;
          this.onRefused(topic, partition, value, key, err as Error);
          continue;
        }
        if (code !== CODES.ERRORS.ERR__QUEUE_FULL) {
          if (!this.onProduceError(err)) throw err;
          this.clear();
          return false;
        }
        if (Date.now() >= deadline) return false;
        this.producer.poll();
        await sleep(5); // librdkafka's threads send meanwhile; the event loop stays free
      }
    }
    this.clear();
    return true;
  }

  /** Drops every waiting record (a failed transaction's: they replay). */
  clear(): void {
    this.overflow = [];
    this.overflowHead = 0;
  }
}
