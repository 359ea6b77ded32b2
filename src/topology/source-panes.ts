// Per-partition pre-aggregation (the "source" stage): counts clicks per url in 5 s panes of
// event time, drops clicks whose pane has already closed on this partition (late), and hands
// over each pane once the partition's watermark passes its end. A closed pane is final: late
// clicks never change it, which is what lets the merge stage treat a replayed pane as a duplicate.
//
// Persisted layout: each pane's urls are spread over BUCKETS buckets by a hash of the url, and a
// bucket is one store entry (`pane!<start>!<bucket>` -> JSON [[url, count], ...]). A checkpoint rewrites
// only the buckets that changed: a few dozen puts per pane instead of one per url, and per click
// the dirty mark is one bit, not a set insertion. A bucket too big for one changelog record (many
// distinct long urls in one pane: Kafka refuses records over 1 MB) is split into parts, the first
// at the bucket's key, part n at `pane!<start>!<bucket>!<n>`.

import { alignDown } from './windows.js';
import { BoundedOutOfOrderness, NO_WATERMARK } from './watermark.js';
import { SEP, throwBadEntry, timeKey, type BadEntry, type StateChanges } from './state-keys.js';

export interface ClosedPane {
  paneStart: number;
  /** Clicks per url, urls in ascending order. */
  counts: Array<[string, number]>;
  total: number;
}

/** One url's count in a pane, and the bucket its persisted form lives in. */
interface UrlCount {
  count: number;
  bucket: number;
}

interface OpenPane {
  start: number;
  counts: Map<string, UrlCount>;
  total: number;
  /** Bit b set: bucket b changed since the last checkpoint. */
  dirtyBuckets: number;
  /** Entry b: how many parts of bucket b are in the store (deleted when the pane closes). */
  persistedParts: number[];
}

const BUCKETS = 32;
/**
 * A part's JSON length in UTF-16 code units: at most 3 UTF-8 bytes each, so a part stays under
 * 256 KiB, well inside Kafka's 1 MB default record limit. A part holds at least one entry, and
 * one entry (a url of at most 64 KiB, JSON-escaped) stays under 400 KB.
 */
const PART_CHARS = Math.floor((256 * 1024) / 3);
/** More parts than a bucket of 64 KiB urls could ever need: a bound for keys read back. */
const MAX_PARTS = 1_000_000;

/** FNV-1a over the url's UTF-16 code units, reduced to a bucket: stable across runs. */
function bucketOf(url: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < url.length; i++) hash = Math.imul(hash ^ url.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % BUCKETS;
}

function newPane(start: number): OpenPane {
  return { start, counts: new Map(), total: 0, dirtyBuckets: 0, persistedParts: new Array<number>(BUCKETS).fill(0) };
}

const PANE = 'pane';
const MAX_EVENT_TIME = `meta${SEP}maxEventTime`;
const CLOSED_UNTIL = `meta${SEP}closedUntil`;

export class SourcePanes {
  private readonly panes = new Map<number, OpenPane>();
  private readonly watermark: BoundedOutOfOrderness;
  /** Panes closed since the last checkpoint: their persisted keys must go. */
  private closedSinceCheckpoint: OpenPane[] = [];
  private maxEventTimeDirty = false;
  /** Panes ending at or before this were closed early because the partition went idle. */
  private closedUntil = NO_WATERMARK;
  private closedUntilDirty = false;
  /** One-entry cache: consecutive clicks mostly fall in the same pane. */
  private lastPane: OpenPane | undefined;

  constructor(private readonly paneMs: number, boundMs: number) {
    this.watermark = new BoundedOutOfOrderness(boundMs);
  }

  /** The partition's watermark: event-time progress, or further if idleness closed its panes. */
  get watermarkMs(): number {
    const watermarkMs = this.watermark.watermarkMs;
    return watermarkMs > this.closedUntil ? watermarkMs : this.closedUntil;
  }

  /**
   * The partition went idle: close every open pane now, so a quiet stream still gets its windows.
   * A click that later arrives for one of these panes is late, like any click behind the watermark.
   */
  closeAllOpen(): void {
    let until = this.closedUntil;
    for (const pane of this.panes.values()) if (pane.start + this.paneMs > until) until = pane.start + this.paneMs;
    if (until === this.closedUntil) return;
    this.closedUntil = until;
    this.closedUntilDirty = true;
  }

  get openPaneCount(): number {
    return this.panes.size;
  }

  /** Number of (pane, url) entries held: the task's state size in keys. */
  get openKeyCount(): number {
    let keys = 0;
    for (const pane of this.panes.values()) keys += pane.counts.size;
    return keys;
  }

  /**
   * Counts a click. Returns false, counting nothing, if it is late: its pane ended at or before
   * the watermark, so the pane was (or could have been) handed over already.
   */
  add(url: string, eventTimeMs: number): boolean {
    const paneStart = alignDown(eventTimeMs, this.paneMs);
    if (paneStart + this.paneMs <= this.watermarkMs) return false;
    let pane = this.lastPane;
    if (pane === undefined || pane.start !== paneStart) {
      pane = this.panes.get(paneStart);
      if (pane === undefined) {
        pane = newPane(paneStart);
        this.panes.set(paneStart, pane);
      }
      this.lastPane = pane;
    }
    const entry = pane.counts.get(url);
    if (entry !== undefined) {
      entry.count++;
      pane.dirtyBuckets |= 1 << entry.bucket;
    } else {
      const bucket = bucketOf(url);
      pane.counts.set(url, { count: 1, bucket });
      pane.dirtyBuckets |= 1 << bucket;
    }
    pane.total++;
    if (eventTimeMs > this.watermark.maxEventTime) {
      this.watermark.observe(eventTimeMs);
      this.maxEventTimeDirty = true;
    }
    return true;
  }

  /** Removes and returns, oldest first, every pane whose end the watermark has passed. */
  takeClosed(): ClosedPane[] {
    const watermarkMs = this.watermarkMs;
    const closed: OpenPane[] = [];
    for (const pane of this.panes.values()) if (pane.start + this.paneMs <= watermarkMs) closed.push(pane);
    if (closed.length === 0) return [];
    closed.sort((a, b) => a.start - b.start);
    for (const pane of closed) {
      this.panes.delete(pane.start);
      this.closedSinceCheckpoint.push(pane);
    }
    this.lastPane = undefined;
    return closed.map((pane) => ({
      paneStart: pane.start,
      counts: [...pane.counts].map(([url, entry]): [string, number] => [url, entry.count]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
      total: pane.total,
    }));
  }

  /** What changed since the last call, as store puts and deletes. */
  takeChanges(): StateChanges {
    const changes: StateChanges = new Map();
    // A pane that opened and closed between two checkpoints never reached the store: nothing to delete.
    for (const pane of this.closedSinceCheckpoint) {
      pane.persistedParts.forEach((parts, bucket) => {
        for (let part = 0; part < parts; part++) changes.set(bucketKey(pane.start, bucket, part), null);
      });
    }
    this.closedSinceCheckpoint = [];
    for (const pane of this.panes.values()) {
      if (pane.dirtyBuckets === 0) continue;
      const buckets: Array<Array<[string, number]>> = [];
      for (const [url, entry] of pane.counts) {
        if ((pane.dirtyBuckets & (1 << entry.bucket)) === 0) continue;
        (buckets[entry.bucket] ??= []).push([url, entry.count]);
      }
      // JSON, because a url is any string a client sent (tabs and newlines included).
      buckets.forEach((bucketCounts, bucket) => {
        if (bucketCounts === undefined) return;
        const parts = bucketParts(bucketCounts);
        parts.forEach((part, index) => changes.set(bucketKey(pane.start, bucket, index), part));
        for (let stale = parts.length; stale < pane.persistedParts[bucket]!; stale++) changes.set(bucketKey(pane.start, bucket, stale), null);
        pane.persistedParts[bucket] = parts.length;
      });
      pane.dirtyBuckets = 0;
    }
    if (this.maxEventTimeDirty) {
      changes.set(MAX_EVENT_TIME, String(this.watermark.maxEventTime));
      this.maxEventTimeDirty = false;
    }
    if (this.closedUntilDirty) {
      changes.set(CLOSED_UNTIL, String(this.closedUntil));
      this.closedUntilDirty = false;
    }
    return changes;
  }

  /**
   * Rebuilds the state from persisted entries (as written by takeChanges). An entry that is not
   * one goes to `onBadEntry`, which throws by default (a savepoint is refused); a worker opening
   * a task passes one that counts and skips it (state from Kafka must not stop the job).
   */
  static restore(paneMs: number, boundMs: number, entries: Iterable<[string, string]>, onBadEntry: BadEntry = throwBadEntry): SourcePanes {
    const panes = new SourcePanes(paneMs, boundMs);
    for (const [key, value] of entries) {
      if (key === MAX_EVENT_TIME || key === CLOSED_UNTIL) {
        const time = Number(value);
        if (!Number.isSafeInteger(time)) {
          onBadEntry(key, 'not a time');
          continue;
        }
        if (key === MAX_EVENT_TIME) panes.watermark.maxEventTime = time;
        else panes.closedUntil = time;
        continue;
      }
      const [kind, startText, bucketText, partText, extra] = key.split(SEP);
      const start = Number(startText);
      const bucket = Number(bucketText);
      const part = partText === undefined ? 0 : Number(partText);
      const canonicalPart = partText === undefined || (String(part) === partText && part >= 1 && part < MAX_PARTS);
      if (kind !== PANE || extra !== undefined || !canonicalPart || !Number.isSafeInteger(start) || start % paneMs !== 0 || !Number.isInteger(bucket) || bucket < 0 || bucket >= BUCKETS) {
        onBadEntry(key, 'not a source state key');
        continue;
      }
      const counts = parseBucket(value);
      if (counts === undefined) {
        onBadEntry(key, 'not a bucket of [url, count] pairs');
        continue;
      }
      let pane = panes.panes.get(start);
      if (pane === undefined) panes.panes.set(start, (pane = newPane(start)));
      pane.persistedParts[bucket] = Math.max(pane.persistedParts[bucket]!, part + 1);
      for (const [url, count] of counts) {
        pane.counts.set(url, { count, bucket });
        pane.total += count;
      }
    }
    return panes;
  }

  /** True if nothing was ever counted (no watermark yet). */
  get empty(): boolean {
    return this.watermark.maxEventTime === NO_WATERMARK;
  }
}

/** A persisted bucket, if it is a list of [url, count] pairs with whole, non-negative counts. */
function parseBucket(value: string): Array<[string, number]> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  for (const pair of parsed) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || !Number.isSafeInteger(pair[1]) || pair[1] < 0) return undefined;
  }
  return parsed as Array<[string, number]>;
}

function bucketKey(paneStart: number, bucket: number, part: number): string {
  const key = PANE + SEP + timeKey(paneStart) + SEP + String(bucket).padStart(2, '0');
  return part === 0 ? key : key + SEP + String(part);
}

/** A bucket's persisted form: one JSON list, or several when one would be too big for a record. */
function bucketParts(counts: Array<[string, number]>): string[] {
  const whole = JSON.stringify(counts);
  if (whole.length <= PART_CHARS) return [whole];
  const parts: string[] = [];
  let entries: string[] = [];
  let length = 2;
  for (const pair of counts) {
    const entry = JSON.stringify(pair);
    if (entries.length > 0 && length + entry.length + 1 > PART_CHARS) {
      parts.push(`[${entries.join(',')}]`);
      entries = [];
      length = 2;
    }
    entries.push(entry);
    length += entry.length + 1;
  }
  parts.push(`[${entries.join(',')}]`);
  return parts;
}
