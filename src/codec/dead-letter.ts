// The records of the dead-letter topic (`clicks-dlq`): the refused record's bytes with headers that
// say why (a stable `reason` code and the `error` in words) and where it came from (topic,
// partition, offset). A record too large for the dead-letter topic itself is kept as its first
// bytes, with its original size: the dead-letter path must never fail on the record's account.
// Pure.

import type { Headers } from './headers.js';

/** The most of a refused record's value kept (the producer refuses records over ~1 MB). */
export const DEAD_LETTER_VALUE_BYTES = 512 * 1024;
/** The most of its key kept. */
export const DEAD_LETTER_KEY_BYTES = 1024;

export interface DeadLetterSource {
  topic: string;
  partition: number;
  /** Undefined for an output the producer refused (it has no offset yet). */
  offset?: number;
}

export interface DeadLetter {
  value: Buffer | null;
  key: Buffer | null;
  headers: Headers;
}

function asBuffer(data: Buffer | string | null | undefined): Buffer | null {
  if (data === null || data === undefined) return null;
  return typeof data === 'string' ? Buffer.from(data) : data;
}

export function deadLetter(value: Buffer | null | undefined, key: Buffer | string | null | undefined, reason: string, error: string, source: DeadLetterSource): DeadLetter {
  const headers: Headers = [
    { reason },
    { error },
    { 'source-topic': source.topic },
    { 'source-partition': String(source.partition) },
  ];
  if (source.offset !== undefined) headers.push({ 'source-offset': String(source.offset) });
  let kept = value ?? null;
  if (kept !== null && kept.length > DEAD_LETTER_VALUE_BYTES) {
    headers.push({ 'original-size': String(kept.length) }, { truncated: 'value' });
    kept = kept.subarray(0, DEAD_LETTER_VALUE_BYTES);
  }
  let keptKey = asBuffer(key);
  if (keptKey !== null && keptKey.length > DEAD_LETTER_KEY_BYTES) {
    headers.push({ 'original-key-size': String(keptKey.length) }, { truncated: 'key' });
    keptKey = keptKey.subarray(0, DEAD_LETTER_KEY_BYTES);
  }
  return { value: kept, key: keptKey, headers };
}
