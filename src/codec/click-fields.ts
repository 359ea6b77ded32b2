// Hot-path reader of the two Click fields the job needs (url, timestamp_ms), straight from the
// protobuf wire bytes: no message object, no strings for the fields it skips. Anything that is
// not a well-formed Click with a url and a plausible time is reported as an error for the DLQ.

export interface ClickFields {
  url: string;
  timestampMs: number;
}

/** Event times outside [2000-01-01, 2100-01-01) are not clicks but broken clocks or bad encoders. */
export const MIN_EVENT_TIME_MS = 946_684_800_000;
export const MAX_EVENT_TIME_MS = 4_102_444_800_000;

const URL_FIELD = 1;
const TIMESTAMP_FIELD = 2;

/** A url longer than the caller's limit: reported with this prefix (the url is never decoded). */
export const URL_TOO_LONG = 'url of';

/**
 * Fills `out` from the bytes of a Click; returns undefined on success, else why it is malformed.
 * `out` is reused by the caller across records so reading allocates only the url string. A url
 * longer than `maxUrlBytes` is refused before it is decoded (its message starts URL_TOO_LONG).
 */
export function readClickFields(bytes: Buffer, out: ClickFields, maxUrlBytes = Infinity): string | undefined {
  const end = bytes.length;
  let pos = 0;
  let url: string | undefined;
  let timestampMs: number | undefined;
  while (pos < end) {
    // tag varint (field numbers of Click fit in one or two bytes)
    let tag = 0;
    let shift = 0;
    let byte: number;
    do {
      if (pos >= end || shift > 28) return 'truncated or malformed field tag';
      byte = bytes[pos++]!;
      tag |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    const field = tag >>> 3;
    const wireType = tag & 7;
    if (field === 0) return 'invalid field number 0';
    switch (wireType) {
      case 0: {
        // varint; int64 values are read exactly up to 2^53
        let value = 0;
        let scale = 1;
        let count = 0;
        do {
          if (pos >= end || count === 10) return 'truncated or overlong varint';
          byte = bytes[pos++]!;
          value += (byte & 0x7f) * scale;
          scale *= 128;
          count++;
        } while (byte & 0x80);
        if (field === TIMESTAMP_FIELD) timestampMs = value;
        else if (field === URL_FIELD) return 'url has the wrong wire type';
        break;
      }
      case 2: {
        let length = 0;
        let scale = 1;
        let count = 0;
        do {
          if (pos >= end || count === 5) return 'truncated length';
          byte = bytes[pos++]!;
          length += (byte & 0x7f) * scale;
          scale *= 128;
          count++;
        } while (byte & 0x80);
        if (pos + length > end) return 'field runs past the end of the record';
        if (field === URL_FIELD && length > maxUrlBytes) return `${URL_TOO_LONG} ${length} bytes is over the limit of ${maxUrlBytes}`;
        if (field === URL_FIELD) url = (bytes as Buffer & { utf8Slice(start: number, end: number): string }).utf8Slice(pos, pos + length);
        else if (field === TIMESTAMP_FIELD) return 'timestamp_ms has the wrong wire type';
        pos += length;
        break;
      }
      case 1:
        pos += 8;
        if (pos > end) return 'truncated fixed64 field';
        break;
      case 5:
        pos += 4;
        if (pos > end) return 'truncated fixed32 field';
        break;
      default:
        return `unsupported wire type ${wireType}`;
    }
  }
  if (url === undefined || url === '') return 'missing url';
  if (timestampMs === undefined) return 'missing timestamp_ms';
  // A negative int64 arrives as a 10-byte varint: far above the upper bound.
  if (timestampMs < MIN_EVENT_TIME_MS || timestampMs >= MAX_EVENT_TIME_MS) return `absurd timestamp_ms ${timestampMs}`;
  out.url = url;
  out.timestampMs = timestampMs;
  return undefined;
}
