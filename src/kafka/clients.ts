// Kafka clients of the node-rdkafka-style API of @confluentinc/kafka-javascript (the fastest path
// measured here), with the project's defaults, librdkafka's log routed to our logger, and a
// connect that fails within a bounded time with the address it tried.

import Kafka from '@confluentinc/kafka-javascript';
import type { Metadata } from '@confluentinc/kafka-javascript';
import { UserError } from '../errors.js';
import { logger } from '../log.js';

const rdkafka = Kafka as unknown as typeof import('@confluentinc/kafka-javascript');
export const { Producer, KafkaConsumer, AdminClient, CODES } = rdkafka;
export type ProducerClient = InstanceType<typeof rdkafka.Producer>;
export type ConsumerClient = InstanceType<typeof rdkafka.KafkaConsumer>;
export type AdminClientHandle = ReturnType<typeof rdkafka.AdminClient.create>;
export type { Metadata };

export const connectTimeoutMs = 10_000;
const log = logger('kafka');

type Config = Record<string, string | number | boolean | ((...args: never[]) => unknown)>;

/** Settings shared by every client: where the brokers are, and librdkafka's log through ours. */
export function commonConfig(brokers: string, clientId: string): Config {
  return {
    'bootstrap.servers': brokers,
    'client.id': clientId,
    'event_cb': true,
    'log_level': 4,
    // Fail fast on a wrong address instead of retrying a name lookup forever.
    'socket.connection.setup.timeout.ms': connectTimeoutMs,
    // Reconnect within a second of a broker's return (librdkafka backs off up to 10 s by default).
    'reconnect.backoff.max.ms': 1_000,
  };
}

interface Connectable {
  connect(options: { timeout: number }, cb: (err: { message: string } | null, metadata: Metadata) => void): unknown;
  on(event: 'event.log', listener: (entry: { severity: number; fac: string; message: string }) => void): unknown;
}

/**
 * Clients whose connect was called. The binding's disconnect of a client that never connected
 * crashes the process (a segmentation fault in librdkafka's destroy, seen when a worker's first
 * member could not reach the broker and the second, never connected, was closed): only these are
 * disconnected.
 */
const connectCalled = new WeakSet<object>();

/** Connects and fetches metadata; an unreachable broker becomes one UserError naming the address. */
export function connectClient(client: Connectable, brokers: string): Promise<Metadata> {
  connectCalled.add(client);
  // librdkafka retries connections by itself and logs each try; failures that matter surface as
  // errors of the calls we make, so its log stays at debug.
  client.on('event.log', (entry) => log.debug(entry.message, { fac: entry.fac, severity: entry.severity }));
  const startedAt = Date.now();
  return new Promise((resolve, reject) => {
    client.connect({ timeout: connectTimeoutMs }, (err, metadata) => {
      if (err) {
        const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
        reject(new UserError('BROKER_UNREACHABLE', `cannot reach Kafka at ${brokers}: ${err.message} (gave up after ${seconds} s)`));
      } else resolve(metadata);
    });
  });
}

/** Partition count of each topic in the metadata. */
export function partitionCounts(metadata: Metadata): Map<string, number> {
  return new Map(metadata.topics.map((t) => [t.name, t.partitions.length]));
}

/** Disconnects; a client that never connected (never tried, or it throws "not connected") counts as done. */
export function disconnect(client: { disconnect(cb: () => void): unknown }): Promise<void> {
  if (!connectCalled.has(client)) return Promise.resolve();
  return new Promise((resolve) => {
    try {
      client.disconnect(() => resolve());
    } catch {
      resolve();
    }
  });
}

/** librdkafka's logical offset for "the partition's first record". */
export const OFFSET_BEGINNING = -2;

/** Cooperative rebalancing calls the binding has but its type declarations lack. */
export interface IncrementalAssignment {
  incrementalAssign(partitions: Array<{ topic: string; partition: number; offset?: number }>): void;
  incrementalUnassign(partitions: Array<{ topic: string; partition: number }>): void;
  /** True in a revocation when the group already gave the partitions to others (session lost). */
  assignmentLost(): boolean;
}

export function incremental(consumer: ConsumerClient): IncrementalAssignment {
  return consumer as unknown as IncrementalAssignment;
}

/** What `flush` needs of a producer. */
export interface Flushable {
  flush(timeoutMs: number, cb: (err: { message: string } | null | undefined) => void): unknown;
}

/** Waits until every record handed to the producer is acknowledged (or fails after `timeoutMs`). */
export function flush(producer: Flushable, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    producer.flush(timeoutMs, (err) => (err ? reject(new Error(`producer flush failed: ${err.message}`)) : resolve()));
  });
}

/** End of a partition as the consumer last fetched it; null before the first fetch. */
export function highWatermark(consumer: ConsumerClient, topic: string, partition: number): number | null {
  try {
    const high = consumer.getWatermarkOffsets(topic, partition).highOffset;
    return high >= 0 ? high : null;
  } catch {
    return null; // not fetched yet
  }
}
