// Reads a task's changelog partition back (read_committed): its last checkpoint marker, cheaply
// from the partition's tail, or all of it folded into the state as of the last marker, with
// progress. One consumer outside any group, assigned one partition at a time.

import type { Message } from '@confluentinc/kafka-javascript';
import { tunables } from '../config.js';
import { ChangelogFold, type CheckpointStamp } from '../state/changelog.js';
import { CODES, KafkaConsumer, commonConfig, connectClient, disconnect, type ConsumerClient } from './clients.js';

/**
 * Answers a partition gives while its leadership settles (just after the topic was created, or
 * during a broker restart): worth asking again, not an error of the state.
 */
const settling = new Set<number>([CODES.ERRORS.ERR_NOT_LEADER_FOR_PARTITION, CODES.ERRORS.ERR_LEADER_NOT_AVAILABLE, CODES.ERRORS.ERR_UNKNOWN_TOPIC_OR_PART]);
const settleTimeoutMs = 30_000;

export interface RestoreProgress {
  records: number;
  /** Share of the partition's offsets read, 0..1. */
  fraction: number;
  recordsPerSec: number;
  elapsedMs: number;
}

/** Records read back from the tail when looking for the last marker (a checkpoint's marker is its last record). */
const tailOffsets = 16;

export class ChangelogReader {
  private eofAt: { topic: string; partition: number } | undefined;

  private constructor(private readonly consumer: ConsumerClient) {
    consumer.on('partition.eof', (eof: { topic: string; partition: number }) => {
      this.eofAt = { topic: eof.topic, partition: eof.partition };
    });
  }

  static async open(brokers: string, clientId: string): Promise<ChangelogReader> {
    const consumer = new KafkaConsumer(
      {
        ...(commonConfig(brokers, clientId) as Record<string, string | number | boolean>),
        'group.id': `${clientId}-reader`, // never joined: partitions are assigned by hand
        'enable.auto.commit': false,
        'enable.partition.eof': true,
        'isolation.level': 'read_committed',
        // End of partition is noticed after a fetch that waits this long: keep it short, a task
        // opens only after both its reads (last marker, then maybe everything) reached the end.
        'fetch.wait.max.ms': 10,
        'fetch.max.bytes': 16 * 1024 * 1024,
        'max.partition.fetch.bytes': 8 * 1024 * 1024,
      },
      { 'auto.offset.reset': 'earliest' },
    );
    await connectClient(consumer, brokers);
    return new ChangelogReader(consumer);
  }

  /** The last checkpoint marker of a partition, undefined if it has none. */
  async lastStamp(topic: string, partition: number): Promise<CheckpointStamp | undefined> {
    const { low, high } = await this.offsets(topic, partition);
    if (high <= low) return undefined;
    const fromTail = Math.max(low, high - tailOffsets);
    const tail = await this.fold(topic, partition, fromTail, low, high);
    if (tail.marker !== undefined || fromTail === low) return tail.marker;
    // An aborted or long checkpoint at the end hides the marker: read everything.
    return (await this.fold(topic, partition, low, low, high)).marker;
  }

  /** The whole partition folded into the state as of its last marker. */
  async readAll(topic: string, partition: number, onProgress?: (progress: RestoreProgress) => void): Promise<ChangelogFold> {
    const { low, high } = await this.offsets(topic, partition);
    if (high <= low) return new ChangelogFold();
    return this.fold(topic, partition, low, low, high, onProgress);
  }

  async close(): Promise<void> {
    await disconnect(this.consumer);
  }

  private async offsets(topic: string, partition: number): Promise<{ low: number; high: number }> {
    const deadline = Date.now() + settleTimeoutMs;
    for (;;) {
      try {
        return await new Promise((resolve, reject) =>
          this.consumer.queryWatermarkOffsets(topic, partition, 10_000, (err, offsets) => (err ? reject(err) : resolve({ low: offsets.lowOffset, high: offsets.highOffset }))),
        );
      } catch (err) {
        if (!settling.has((err as { code?: number }).code ?? 0) || Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  private async fold(topic: string, partition: number, from: number, low: number, high: number, onProgress?: (progress: RestoreProgress) => void): Promise<ChangelogFold> {
    const fold = new ChangelogFold();
    const startedAt = Date.now();
    this.eofAt = undefined;
    this.consumer.assign([{ topic, partition, offset: from }]);
    let lastProgressAt = 0;
    let lastRecordAt = Date.now();
    let position = from;
    try {
      for (;;) {
        const batch = await new Promise<Message[]>((resolve, reject) => this.consumer.consume(5_000, (err, messages) => (err ? reject(err) : resolve(messages))));
        for (const message of batch) {
          fold.apply(String(message.key), message.value);
          position = message.offset + 1;
        }
        const now = Date.now();
        if (batch.length > 0) lastRecordAt = now;
        const eof = this.eofAt as { topic: string; partition: number } | undefined; // set by the event handler
        const done = eof?.topic === topic && eof.partition === partition;
        if (onProgress !== undefined && (done || now - lastProgressAt >= 1_000)) {
          lastProgressAt = now;
          const elapsedMs = now - startedAt;
          onProgress({ records: fold.records, fraction: done ? 1 : Math.min(1, (position - low) / Math.max(1, high - low)), recordsPerSec: fold.records / Math.max(elapsedMs / 1000, 0.001), elapsedMs });
        }
        if (done) return fold;
        if (now - lastRecordAt > tunables.changelogStallTimeoutMs) throw new Error(`changelog ${topic}-${partition} stopped at offset ${position} of ${high}`);
      }
    } finally {
      this.consumer.unassign();
    }
  }
}
