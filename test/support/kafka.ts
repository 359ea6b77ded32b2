// Helpers for integration tests against the real broker ($KAFKA_BROKERS, started by npm test):
// unique topics per test, and reading a topic back completely.

import { randomBytes } from 'node:crypto';
import type { Message } from '@confluentinc/kafka-javascript';
import { AdminClient, KafkaConsumer, commonConfig, connectClient, disconnect } from '../../src/kafka/clients.js';

export let brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';

/** Points this test file's helpers at another broker (a test that owns one, to stop it). */
export function useBrokers(address: string): void {
  brokers = address;
}

/**
 * A name no other test has used: `<prefix>-<time>-<6 hex>`, with the test run's token before the
 * time when `npm test` set one (CLICKSTREAM_TEST_RUN: it deletes that run's topics afterwards).
 */
export function uniqueName(prefix: string): string {
  const run = process.env.CLICKSTREAM_TEST_RUN;
  return `${prefix}-${run !== undefined && run !== '' ? `${run}-` : ''}${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export async function createTopic(name: string, partitions: number): Promise<void> {
  const admin = AdminClient.create(commonConfig(brokers, 'test-admin'));
  try {
    await new Promise<void>((resolve, reject) =>
      admin.createTopic({ topic: name, num_partitions: partitions, replication_factor: 1 }, 10_000, (err) => (err ? reject(err) : resolve())),
    );
  } finally {
    admin.disconnect();
  }
}

/**
 * Reads every partition of a topic from the beginning, in per-partition offset order, until no new
 * record came for `quietMs` (1 s once `expected` records, or records satisfying it, are in, so
 * extra records still show).
 */
export async function readTopic(topic: string, partitions: number, expected: number | ((messages: Message[]) => boolean), quietMs = 5_000): Promise<Message[]> {
  const enough = typeof expected === 'number' ? (messages: Message[]) => messages.length >= expected : expected;
  const consumer = new KafkaConsumer(
    // read_committed (librdkafka's default, said out loud): exactly-once outputs count once committed.
    { ...commonConfig(brokers, 'test-reader'), 'group.id': uniqueName('test-reader'), 'enable.auto.commit': false, 'isolation.level': 'read_committed' },
    { 'auto.offset.reset': 'earliest' },
  );
  await connectClient(consumer, brokers);
  consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition, offset: 0 })));
  const messages: Message[] = [];
  let lastNewAt = Date.now();
  let complete = false;
  while (Date.now() - lastNewAt < (complete ? 1_000 : quietMs)) {
    const batch = await new Promise<Message[]>((resolve, reject) => consumer.consume(10_000, (err, got) => (err ? reject(err) : resolve(got))));
    if (batch.length > 0) lastNewAt = Date.now();
    for (const message of batch) messages.push(message);
    if (batch.length > 0) complete = enough(messages);
  }
  await disconnect(consumer);
  return messages;
}

/** librdkafka's "Local: Timed out" and the errors it marks retriable: worth asking again. */
function isRetriable(err: unknown): boolean {
  const e = err as { code?: unknown; isRetriable?: unknown; retriable?: unknown };
  return e.code === -185 || e.isRetriable === true || e.retriable === true;
}

/**
 * Waits until `groupId` has committed, on every partition of `topic`, the partition's end offset
 * (the job checkpointed everything it read), or `timeoutMs` passes. Returns both, per partition.
 * A transaction's commit marker takes an offset no one commits: for a topic written in
 * transactions, `slack` 1 takes a committed offset just before the end (the last marker) as the end.
 */
export async function waitForCommittedEnd(groupId: string, topic: string, partitions: number, timeoutMs: number, slack = 0): Promise<{ committed: number[]; end: number[] }> {
  // Never subscribes: reading a group's offsets does not join it.
  const consumer = new KafkaConsumer({ ...commonConfig(brokers, 'test-offsets'), 'group.id': groupId, 'enable.auto.commit': false }, {});
  await connectClient(consumer, brokers);
  const all = Array.from({ length: partitions }, (_, partition) => ({ topic, partition }));
  const deadline = Date.now() + timeoutMs;
  let state = { committed: [] as number[], end: [] as number[] };
  let lastError: unknown;
  try {
    for (;;) {
      try {
        const end = await Promise.all(all.map(({ partition }) => new Promise<number>((resolve, reject) => consumer.queryWatermarkOffsets(topic, partition, 10_000, (err, o) => (err ? reject(err) : resolve(o.highOffset))))));
        const committed = await new Promise<number[]>((resolve, reject) => consumer.committed(all, 10_000, (err, got) => (err ? reject(err) : resolve(got.map((c) => c.offset ?? -1)))));
        state = { committed, end };
        if (committed.every((offset, i) => offset >= end[i]! - slack)) return state;
      } catch (err) {
        // After a kill -9 the victim's open transaction holds its offsets (sent to it in both
        // modes: the changelog's transaction carries them under at-least-once) until the broker
        // aborts it, up to 20 s plus its abort check. A read_committed consumer asks for stable
        // offsets, so librdkafka retries the fetch until its timeout: "Local: Timed out". That
        // says nothing about the job: ask again until the deadline, as a user polling lag would.
        if (!isRetriable(err)) throw err;
        lastError = err;
      }
      if (Date.now() > deadline) {
        if (state.end.length === 0) throw lastError;
        return state;
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  } finally {
    await disconnect(consumer);
  }
}
