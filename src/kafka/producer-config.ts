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
 * over many partitions (partials, counts, total, url-stats, late clicks), and a bounded queue
 * keeps their buffers from costing more memory than the input's.
 *
 * Linger: each partition's batch leaves when its own linger expires, so a short linger sends a
 * request for nearly every burst a closing pane makes. Measured on 2 M clicks of the realistic
 * backlog: 1 ms sent ~14,700 produce requests and cost the broker (on the same two cores) 5-8 s
 * of CPU; 50 ms ~3,000 requests; 200 ms ~2,000 requests (librdkafka sends one request per
 * partition) and 2.5 s of the broker's request threads; 500 ms ~930 requests and 1.7 s; 1 s and
 * 2 s saved no more CPU (560 and 420 requests, 1.7-1.8 s): what is left costs per byte. A
 * checkpoint does not wait for the linger: flush() (and a transaction's commit) sends what is
 * queued at once. Outputs of windows that close 20 s behind the watermark can well wait 500 ms.
 */
export function jobProducerConfig(brokers: string, clientId: string): Record<string, string | number | boolean> {
  return {
    ...producerConfig(brokers, clientId),
    'linger.ms': 500,
    'batch.size': 262_144,
    'batch.num.messages': 10_000,
    'queue.buffering.max.kbytes': 16_384,
  };
}
