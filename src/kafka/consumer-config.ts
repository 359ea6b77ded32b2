// Consumer settings of the job's workers, in one place so the benchmark's raw-consume baseline
// reads with exactly the same ones.

import { commonConfig } from './clients.js';

export function jobConsumerConfig(brokers: string, groupId: string, clientId: string): Record<string, string | number | boolean> {
  return {
    ...(commonConfig(brokers, clientId) as Record<string, string | number | boolean>),
    'group.id': groupId,
    // Offsets are the checkpoint's business: stored with the state, committed after it.
    'enable.auto.commit': false,
    'enable.auto.offset.store': false,
    'partition.assignment.strategy': 'range',
    // A dead worker's partitions move after 10 s instead of librdkafka's default 45 s.
    'session.timeout.ms': 10_000,
    'heartbeat.interval.ms': 1_000,
    'fetch.wait.max.ms': 100,
    // Measured here on a 4-partition backlog: 1 MB per partition fetch capped a raw consumer at
    // ~115k records/s, 4 MB reached ~210-260k/s. A 16 MB prefetch queue keeps memory in check.
    'max.partition.fetch.bytes': 4 * 1024 * 1024,
    'queued.max.messages.kbytes': 16_384,
    ...(process.env.CS_QMIN ? { 'queued.min.messages': Number(process.env.CS_QMIN) } : {}),
  };
}

export const jobConsumerTopicConfig = { 'auto.offset.reset': 'earliest' } as const;
