// Which records of `clicks` the job counts. Clicks come from every web client on the internet: a
// record that is not a well-formed Click, or breaks a limit, goes to the dead-letter topic with a
// reason code, and never reaches a window or moves a watermark. Pure: time comes in as data.
//
// The limits (flags of `clickstream run`, defaults in config.ts):
//   too-large     the record is bigger than --max-record-size (checked before decoding it);
//   url-too-long  the url is longer than --max-url-length bytes (checked before decoding it);
//   future        the event time is more than --max-future ahead of the record's own Kafka
//                 timestamp (when the producer or broker stamped it). A click dated 2099 would
//                 otherwise move its partition's watermark to 2099 and make every later click
//                 late. The reference is the record's timestamp, not the worker's clock, so a
//                 replay decides the same way (a record stamped ahead of the worker's clock is
//                 judged against that clock instead);
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
export function admitClick(bytes: Buffer | null | undefined, recordTimestampMs: number | undefined, nowMs: number, limits: ClickLimits, out: ClickFields): Refusal | undefined {
  if (!bytes || bytes.length === 0) return { reason: 'malformed', detail: 'empty record' };
  if (bytes.length > limits.maxRecordBytes) return { reason: 'too-large', detail: `record of ${bytes.length} bytes is over the limit of ${limits.maxRecordBytes}` };
  const error = readClickFields(bytes, out, limits.maxUrlBytes);
  if (error !== undefined) return { reason: error.startsWith(URL_TOO_LONG) ? 'url-too-long' : 'malformed', detail: error };
  const reference = recordTimestampMs !== undefined && recordTimestampMs >= 0 && recordTimestampMs <= nowMs ? recordTimestampMs : nowMs;
  if (out.timestampMs > reference + limits.maxFutureMs) {
    return { reason: 'future', detail: `event time ${out.timestampMs} is ${out.timestampMs - reference} ms ahead of the record's timestamp ${reference} (limit ${limits.maxFutureMs} ms)` };
  }
  return undefined;
}
