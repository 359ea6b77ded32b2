// Producer settings of the job and of the click producer, in one place (the consumer's are in
// consumer-config.ts), so every producer of the project is tuned where it can be compared.

import { commonConfig } from './clients.js';

/** librdkafka settings for a fast, ordered producer: idempotence keeps per-partition order on retries. */
export function producerConfig(brokers: string, clientId: string): Record<string, string | number | boolean> {
  return {
    ...(commonConfig(brokers, clientId) as Record<string, string | number | boolean>),
    'enable.idempotence': true,
    'linger.ms': 20,
    'batch.num.messages': 20_000,
    'batch.size': 2_000_000,
    'queue.buffering.max.messages': 1_000_000,
    'queue.buffering.max.kbytes': 1_048_576,
    // lz4 measured faster end to end than none here: the broker on the same cores writes less.
    'compression.type': 'lz4',
    // Never drop a click on a slow broker; a flush that cannot finish is reported instead.
    'message.timeout.ms': 0,
    // No per-message delivery reports: they cost a JS callback per click. flush() waits for every
    // click to be acknowledged, and a click that cannot be delivered surfaces as a client error.
    'dr_cb': false,
  };
}

/**
 * The workers' output producer: outputs are few next to the input (pre-aggregated) but spread
 * over many partitions, and each checkpoint waits for their acknowledgements; small batches sent
 * almost at once and a bounded queue keep their buffers from costing more memory than the input's.
 */
export function jobProducerConfig(brokers: string, clientId: string): Record<string, string | number | boolean> {
  return {
    ...producerConfig(brokers, clientId),
    'linger.ms': 1,
    'batch.size': 262_144,
    'batch.num.messages': 10_000,
    'queue.buffering.max.kbytes': 16_384,
  };
}
