// Which records of `clicks` the job counts. Clicks come from every web client on the internet: a
// record that is not a well-formed Click, or breaks a limit, goes to the dead-letter topic with a
// reason code, and never reaches a window or moves a watermark. Pure: time comes in as data.
//
// The limits (flags of `clickstream run`, defaults in config.ts):
//   too-large     value and key together are bigger than --max-record-size (checked before
//                 decoding);
//   url-too-long  the url is longer than --max-url-length bytes, raw or decoded (invalid UTF-8
//                 decodes to 3-byte replacement characters; checked before decoding as well);
//   future        the event time is more than --max-future ahead of the record's own Kafka
//                 timestamp (when the producer or broker stamped it). A click dated 2099 would
//                 otherwise move its partition's watermark to 2099 and make every later click
//                 late. The reference is the record's timestamp, not the worker's clock, so a
//                 replay decides the same way. A record without a timestamp, or stamped ahead of
//                 the worker's clock, is judged against that clock: its fate can differ on a
//                 replay much later (the only input whose treatment depends on when it is read);
//   malformed     not a Click, no url, or a time outside 2000-2100.

import { readClickFields, URL_TOO_LONG, type ClickFields } from './click-fields.js';

export interface ClickLimits {
  maxRecordBytes: number;
  maxUrlBytes: number;
  maxFutureMs: number;
}

export type RefusalReason = 'malformed' | 'too-large' | 'url-too-long' | 'future';

export interface Refusal {
  reason: RefusalReason;
  /** What exactly, for the dead-letter record's `error` header. */
  detail: string;
}

/**
 * Fills `out` and returns undefined if the record is a click the job counts, else why not.
 * `recordTimestampMs`: the Kafka record's timestamp (negative or undefined if none).
 */
export function admitClick(bytes: Buffer | null | undefined, recordTimestampMs: number | undefined, nowMs: number, limits: ClickLimits, out: ClickFields, keyBytes = 0): Refusal | undefined {
  if (bytes && bytes.length + keyBytes > limits.maxRecordBytes) return { reason: 'too-large', detail: `record of ${bytes.length + keyBytes} bytes (value and key) is over the limit of ${limits.maxRecordBytes}` };
  if (!bytes || bytes.length === 0) return { reason: 'malformed', detail: 'empty record' };
  const error = readClickFields(bytes, out, limits.maxUrlBytes);
  if (error !== undefined) return { reason: error.startsWith(URL_TOO_LONG) ? 'url-too-long' : 'malformed', detail: error };
  // Each UTF-16 unit is at most 3 UTF-8 bytes: only a long url needs measuring.
  if (out.url.length * 3 > limits.maxUrlBytes && Buffer.byteLength(out.url) > limits.maxUrlBytes) {
    return { reason: 'url-too-long', detail: `url of ${Buffer.byteLength(out.url)} bytes once decoded (invalid UTF-8) is over the limit of ${limits.maxUrlBytes}` };
  }
  if (recordTimestampMs !== undefined && recordTimestampMs >= 0 && recordTimestampMs <= nowMs) {
    if (out.timestampMs > recordTimestampMs + limits.maxFutureMs) {
      return { reason: 'future', detail: `event time ${out.timestampMs} is ${out.timestampMs - recordTimestampMs} ms ahead of the record's timestamp ${recordTimestampMs} (limit ${limits.maxFutureMs} ms)` };
    }
  } else if (out.timestampMs > nowMs + limits.maxFutureMs) {
    // No usable record timestamp: the detail names no clock reading, so a replay writes the same.
    return { reason: 'future', detail: `event time ${out.timestampMs} is more than ${limits.maxFutureMs} ms ahead of the worker's clock (the record has no usable timestamp)` };
  }
  return undefined;
}
