// Consumer settings of the job's workers, in one place so the benchmark's raw-consume baseline
// reads with exactly the same ones.

import { commonConfig } from './clients.js';

/** A dead worker's partitions move after 10 s instead of librdkafka's default 45 s. */
const SESSION_TIMEOUT_MS = 10_000;

/**
 * A test's max.poll.interval.ms (CLICKSTREAM_MAX_POLL_INTERVAL_MS, with a stall of
 * runtime/crash-points.ts): a member missing librdkafka's default of 5 minutes would take a test
 * that long. Never set in production.
 */
function maxPollIntervalForTests(value: string | undefined): Record<string, number> {
  if (value === undefined || value === '') return {};
  const ms = Number(value);
  // librdkafka refuses an interval below the session timeout.
  if (!Number.isSafeInteger(ms) || ms < SESSION_TIMEOUT_MS || ms > 86_400_000) throw new Error(`CLICKSTREAM_MAX_POLL_INTERVAL_MS must be a whole number of milliseconds from ${SESSION_TIMEOUT_MS} to 86400000, got "${value}"`);
  return { 'max.poll.interval.ms': ms };
}

export function jobConsumerConfig(brokers: string, groupId: string, clientId: string): Record<string, string | number | boolean> {
  return {
    ...(commonConfig(brokers, clientId) as Record<string, string | number | boolean>),
    'group.id': groupId,
    // Offsets are the checkpoint's business: stored with the state, committed after it.
    'enable.auto.commit': false,
    'enable.auto.offset.store': false,
    // Cooperative: a rebalance moves only the partitions that change owner; the others keep
    // running (no stop-the-world revocation of every task).
    'partition.assignment.strategy': 'cooperative-sticky',
    'session.timeout.ms': SESSION_TIMEOUT_MS,
    'heartbeat.interval.ms': 1_000,
    'fetch.wait.max.ms': 100,
    // Measured here on a 4-partition backlog (raw consume of 2 M clicks): 1 MB per partition and
    // fetch capped throughput at ~115k records/s; 2 MB per partition within an 8 MB fetch gave
    // ~225k/s at ~240 MB RSS (the 50 MB default fetch: ~235k/s at ~350 MB). A smaller prefetch
    // queue (4 MB) halved throughput.
    'max.partition.fetch.bytes': 2 * 1024 * 1024,
    'fetch.max.bytes': 8 * 1024 * 1024,
    'queued.max.messages.kbytes': 16_384,
    // Once that queue is full, librdkafka postpones a partition's next fetch by this much (default
    // 1 s). A catch-up drains the 16 MB in about a second, so the queue ran dry for 100 ms or more
    // a few times per 10 s: the worker waited, and took an early checkpoint for a backlog it
    // believed read. 200 ms, 2 M clicks, three alternated pairs: raw consume +8 %, the job +8 %.
    'fetch.queue.backoff.ms': 200,
    // librdkafka also prefetches until each partition has this many messages queued (default
    // 100,000): clicks are small (~60 bytes), so over 4 partitions the queue held up to 400,000
    // of them, each with librdkafka's bookkeeping. 50,000 per partition (20 batches of 10,000):
    // 5 M realistic clicks, two alternated pairs of bench runs: peak RSS raw consume 208-217 MB
    // against 234-237, the job 250-259 MB against 278-280, exactly-once 264-269 MB against
    // 288-289 (about 125 bytes per message no longer queued), at the same speed within the
    // noise (raw consume alone, two more pairs: 226k and 242k clicks/s against 214k and 192k).
    // 20,000 saved 12 MB more, but the queue ran dry: raw consume's JS thread was busy 86 % of
    // its catch-up instead of 92 %.
    'queued.min.messages': 50_000,
    ...maxPollIntervalForTests(process.env.CLICKSTREAM_MAX_POLL_INTERVAL_MS),
  };
}

export const jobConsumerTopicConfig = { 'auto.offset.reset': 'earliest' } as const;
