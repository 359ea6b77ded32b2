// Per-partition pre-aggregation (the "source" stage): counts clicks per url in 5 s panes of
// event time and hands over each pane once the partition's watermark passes its end. A closed
// pane is final: later clicks never change it, which is what lets the merge stage treat a
// replayed pane as a duplicate.
//
// Lateness is judged per window, as Flink's and Kafka Streams' window operators do: a click is
// late for a window when the partition's watermark has reached that window's end. A click whose
// pane has closed may still belong to a 10 s total or a minute that is open here: it counts
// there, as a *late addition* to that window (kept per window, and handed over as a running
// total of which the merge keeps the largest, so a replay cannot count it twice). `add` says which
// kinds of window a click missed; a click that missed some goes to clicks-late.
//
// With an allowed lateness D, a window takes late clicks until the watermark reaches its end + D
// (a closed 5 s pane too, as late additions per url): the merge stage emits them as corrections.
// A late window is kept here until then, so its running total never restarts.
//
// Persisted layout: each pane's urls are spread over BUCKETS buckets by a hash of the url, and a
// bucket is one store entry (`pane!<start>!<bucket>` -> JSON [[url, count], ...]). A checkpoint rewrites
// only the buckets that changed: a few dozen puts per pane instead of one per url, and per click
// the dirty mark is one bit, not a set insertion. A bucket too big for one changelog record (many
// distinct long urls in one pane: Kafka refuses records over 1 MB) is split into parts, the first
// at the bucket's key, part n at `pane!<start>!<bucket>!<n>`.

import { alignDown, totalWindowStartsOfPane, type WindowSpec } from './windows.js';
import { BoundedOutOfOrderness, NO_WATERMARK } from './watermark.js';
import { LATENESS_KEY, SEP, parseLateness, throwBadEntry, timeKey, type BadEntry, type StateChanges } from './state-keys.js';

export interface ClosedPane {
  paneStart: number;
  /** Clicks per url, urls in ascending order. */
  counts: Array<[string, number]>;
  total: number;
}

/** Running totals of late additions changed since they were last handed over. */
export interface LateAdds {
  /** 5 s panes already closed (allowed lateness only): per url (ascending), clicks added late. */
  panes: Array<{ windowStart: number; counts: Array<[string, number]> }>;
  /** 10 s total windows: clicks added late since each window opened here. */
  totals: Array<{ windowStart: number; count: number }>;
  /** Minute windows: per url (ascending), clicks added late since the window opened here. */
  stats: Array<{ windowStart: number; counts: Array<[string, number]> }>;
}

/** The kinds of window a click missed, as bits of `add`'s result (0: it counted in all). */
export const MISSED_COUNTS = 1;
export const MISSED_TOTAL = 2;
export const MISSED_STATS = 4;

/** The missed kinds by output topic name, e.g. "counts,total" (for the clicks-late header). */
export function missedKinds(missed: number): string {
  const kinds: string[] = [];
  if (missed & MISSED_COUNTS) kinds.push('counts');
  if (missed & MISSED_TOTAL) kinds.push('total');
  if (missed & MISSED_STATS) kinds.push('url-stats');
  return kinds.join(',');
}

/** One url's count in a pane, and the bucket its persisted form lives in. */
interface UrlCount {
  count: number;
  bucket: number;
}

/** An open pane, or the late additions to one open minute (then `start` is the minute's). */
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

/** Counts a url in a pane (or late minute), marking its bucket dirty. */
function countUrl(pane: OpenPane, url: string): void {
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
}

/** Late additions to one pane or minute, per url. */
interface LateWindow extends OpenPane {
  /** Urls whose running total changed since it was last handed over. */
  unsent: Set<string>;
}

interface LateTotal {
  count: number;
  unsent: boolean;
  /** Changed since the last checkpoint. */
  dirty: boolean;
}

const PANE = 'pane';
/** Late additions to a closed pane: `lpane!<pane>!<bucket>[!<part>]`, laid out like a pane. */
const LATE_PANE = 'lpane';
/** Late additions to a minute: `lstats!<minute>!<bucket>[!<part>]`, laid out like a pane. */
const LATE_STATS = 'lstats';
/** Late additions to a 10 s total: `ltotal!<window start>` -> count. */
const LATE_TOTAL = 'ltotal';
const MAX_EVENT_TIME = `meta${SEP}maxEventTime`;
const CLOSED_UNTIL = `meta${SEP}closedUntil`;

/**
 * Rescale: the state of a source partition added to the job, whose watermark starts at
 * `watermarkMs` (not held back behind the old partitions': what they closed stays closed) as if
 * it had read a click at `watermarkMs + boundMs`. Pure.
 */
export function addedPartitionState(watermarkMs: number, boundMs: number, latenessMs: number): Array<[string, string]> {
  return [
    [MAX_EVENT_TIME, String(watermarkMs + boundMs)],
    [LATENESS_KEY, String(latenessMs)],
  ];
}

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
  /** Minute start -> late additions per url, until the watermark passes the minute's end (+ D). */
  private readonly lateMinutes = new Map<number, LateWindow>();
  /** Closed pane start -> late additions per url, until the watermark passes its end + D (D > 0). */
  private readonly latePanes = new Map<number, LateWindow>();
  /** Total window start -> late additions, until the watermark passes the window's end. */
  private readonly lateTotals = new Map<number, LateTotal>();
  /** Late windows closed since the last checkpoint: their persisted keys must go. */
  private lateMinutesClosed: LateWindow[] = [];
  private latePanesClosed: LateWindow[] = [];
  private lateTotalsClosed: number[] = [];
  private readonly paneMs: number;
  private readonly latenessMs: number;
  /** The lateness the restored state was built with (undefined: new, or from before it was kept). */
  restoredLatenessMs: number | undefined;
  private latenessDirty = true;

  constructor(private readonly spec: WindowSpec, boundMs: number) {
    this.paneMs = spec.paneMs;
    this.latenessMs = spec.allowedLatenessMs;
    this.watermark = new BoundedOutOfOrderness(boundMs);
  }

  get allowedLatenessMs(): number {
    return this.latenessMs;
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

  /** Number of (window, url) entries held: the task's state size in keys. */
  get openKeyCount(): number {
    let keys = this.lateTotals.size;
    for (const pane of this.panes.values()) keys += pane.counts.size;
    for (const minute of this.lateMinutes.values()) keys += minute.counts.size;
    for (const pane of this.latePanes.values()) keys += pane.counts.size;
    return keys;
  }

  /**
   * Counts a click in every window holding it that is still open on this partition. Returns the
   * kinds of window it missed (MISSED_* bits), 0 when it counted in all of them: its pane is
   * open. When its pane has closed (ended at or before the watermark, so it was or could have
   * been handed over), it counts only in the longer windows still open, as a late addition.
   */
  add(url: string, eventTimeMs: number): number {
    const paneStart = alignDown(eventTimeMs, this.paneMs);
    const watermarkMs = this.watermarkMs;
    if (paneStart + this.paneMs <= watermarkMs) return this.addLate(url, eventTimeMs, paneStart, watermarkMs);
    let pane = this.lastPane;
    if (pane === undefined || pane.start !== paneStart) {
      pane = this.panes.get(paneStart);
      if (pane === undefined) {
        pane = newPane(paneStart);
        this.panes.set(paneStart, pane);
      }
      this.lastPane = pane;
    }
    countUrl(pane, url);
    if (eventTimeMs > this.watermark.maxEventTime) {
      this.watermark.observe(eventTimeMs);
      this.maxEventTimeDirty = true;
    }
    return 0;
  }

  /** A click behind its closed pane (so behind the highest event time: the watermark stays). */
  private addLate(url: string, eventTimeMs: number, paneStart: number, watermarkMs: number): number {
    const { totalWindowMs, statsWindowMs } = this.spec;
    // Past a window's end + D (the allowed lateness), a click misses it.
    const lateness = this.latenessMs;
    let missed = 0;
    if (paneStart + this.paneMs + lateness <= watermarkMs) missed = MISSED_COUNTS;
    else addLateClick(this.latePanes, paneStart, url);
    for (const start of totalWindowStartsOfPane(paneStart, this.spec)) {
      if (start + totalWindowMs + lateness <= watermarkMs) {
        missed |= MISSED_TOTAL;
        continue;
      }
      let total = this.lateTotals.get(start);
      if (total === undefined) this.lateTotals.set(start, (total = { count: 0, unsent: false, dirty: false }));
      total.count++;
      total.unsent = total.dirty = true;
    }
    const minuteStart = alignDown(eventTimeMs, statsWindowMs);
    if (minuteStart + statsWindowMs + lateness <= watermarkMs) return missed | MISSED_STATS;
    addLateClick(this.lateMinutes, minuteStart, url);
    return missed;
  }

  /**
   * The running totals of late additions that changed since the last call, to hand over before
   * the watermark that follows them; then forgets every late window the watermark has passed
   * (its last change is in this call's result or an earlier one).
   */
  takeLateAdds(): LateAdds {
    const adds: LateAdds = { panes: [], totals: [], stats: [] };
    if (this.lateTotals.size === 0 && this.lateMinutes.size === 0 && this.latePanes.size === 0) return adds;
    // A late window is forgotten once the watermark passes its end + D: no click can join it.
    const until = this.watermarkMs - this.latenessMs;
    const ascending = (a: number, b: number): number => a - b;
    adds.panes = takeLateWindows(this.latePanes, this.paneMs, until, this.latePanesClosed);
    for (const start of [...this.lateTotals.keys()].sort(ascending)) {
      const total = this.lateTotals.get(start)!;
      if (total.unsent) adds.totals.push({ windowStart: start, count: total.count });
      total.unsent = false;
      if (start + this.spec.totalWindowMs <= until) {
        this.lateTotals.delete(start);
        this.lateTotalsClosed.push(start);
      }
    }
    adds.stats = takeLateWindows(this.lateMinutes, this.spec.statsWindowMs, until, this.lateMinutesClosed);
    return adds;
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
      counts: [...pane.counts].map(([url, entry]): [string, number] => [url, entry.count]).sort((a, b) => compareText(a[0], b[0])),
      total: pane.total,
    }));
  }

  /** What changed since the last call, as store puts and deletes. */
  takeChanges(): StateChanges {
    const changes: StateChanges = new Map();
    for (const pane of this.closedSinceCheckpoint) deletePane(PANE, pane, changes);
    this.closedSinceCheckpoint = [];
    for (const pane of this.panes.values()) putDirtyBuckets(PANE, pane, changes);
    for (const minute of this.lateMinutesClosed) deletePane(LATE_STATS, minute, changes);
    this.lateMinutesClosed = [];
    for (const minute of this.lateMinutes.values()) putDirtyBuckets(LATE_STATS, minute, changes);
    for (const pane of this.latePanesClosed) deletePane(LATE_PANE, pane, changes);
    this.latePanesClosed = [];
    for (const pane of this.latePanes.values()) putDirtyBuckets(LATE_PANE, pane, changes);
    for (const start of this.lateTotalsClosed) changes.set(LATE_TOTAL + SEP + timeKey(start), null);
    this.lateTotalsClosed = [];
    for (const [start, total] of this.lateTotals) {
      if (!total.dirty) continue;
      changes.set(LATE_TOTAL + SEP + timeKey(start), String(total.count));
      total.dirty = false;
    }
    if (this.maxEventTimeDirty) {
      changes.set(MAX_EVENT_TIME, String(this.watermark.maxEventTime));
      this.maxEventTimeDirty = false;
    }
    if (this.closedUntilDirty) {
      changes.set(CLOSED_UNTIL, String(this.closedUntil));
      this.closedUntilDirty = false;
    }
    if (this.latenessDirty) {
      changes.set(LATENESS_KEY, String(this.latenessMs));
      this.latenessDirty = false;
    }
    return changes;
  }

  /**
   * Rebuilds the state from persisted entries (as written by takeChanges). An entry that is not
   * one goes to `onBadEntry`, which throws by default (a savepoint is refused); a worker opening
   * a task passes one that counts and skips it (state from Kafka must not stop the job).
   */
  static restore(spec: WindowSpec, boundMs: number, entries: Iterable<[string, string]>, onBadEntry: BadEntry = throwBadEntry): SourcePanes {
    const panes = new SourcePanes(spec, boundMs);
    for (const [key, value] of entries) {
      if (key === LATENESS_KEY) {
        panes.restoredLatenessMs = parseLateness(value);
        if (panes.restoredLatenessMs === undefined) onBadEntry(key, 'not a duration');
        else panes.latenessDirty = panes.restoredLatenessMs !== spec.allowedLatenessMs;
        continue;
      }
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
      if (kind === LATE_TOTAL) {
        const count = Number(value);
        if (bucketText !== undefined || !Number.isSafeInteger(start) || start % spec.totalSlideMs !== 0 || !Number.isSafeInteger(count) || count < 1) {
          onBadEntry(key, 'not a late total');
          continue;
        }
        // Handed over again after a restore: the merge keeps the largest running total it saw.
        panes.lateTotals.set(start, { count, unsent: true, dirty: false });
        continue;
      }
      const bucket = Number(bucketText);
      const part = partText === undefined ? 0 : Number(partText);
      const canonicalPart = partText === undefined || (String(part) === partText && part >= 1 && part < MAX_PARTS);
      const alignMs = kind === LATE_STATS ? spec.statsWindowMs : spec.paneMs;
      if ((kind !== PANE && kind !== LATE_STATS && kind !== LATE_PANE) || extra !== undefined || !canonicalPart || !Number.isSafeInteger(start) || start % alignMs !== 0 || !Number.isInteger(bucket) || bucket < 0 || bucket >= BUCKETS) {
        onBadEntry(key, 'not a source state key');
        continue;
      }
      const counts = parseBucket(value);
      if (counts === undefined) {
        onBadEntry(key, 'not a bucket of [url, count] pairs');
        continue;
      }
      let pane: OpenPane | undefined;
      if (kind === PANE) {
        pane = panes.panes.get(start);
        if (pane === undefined) panes.panes.set(start, (pane = newPane(start)));
      } else {
        // Handed over again after a restore: the merge keeps the largest running total it saw.
        const late = lateWindowOf(kind === LATE_PANE ? panes.latePanes : panes.lateMinutes, start);
        for (const [url] of counts) late.unsent.add(url);
        pane = late;
      }
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

function lateWindowOf(windows: Map<number, LateWindow>, start: number): LateWindow {
  let late = windows.get(start);
  if (late === undefined) windows.set(start, (late = { ...newPane(start), unsent: new Set() }));
  return late;
}

/** Counts a click as a late addition to a pane or minute, to be handed over. */
function addLateClick(windows: Map<number, LateWindow>, start: number, url: string): void {
  const late = lateWindowOf(windows, start);
  countUrl(late, url);
  late.unsent.add(url);
}

/**
 * The changed running totals of late panes or minutes (ascending), per url (ascending); forgets,
 * into `closed`, every one ending at or before `until`.
 */
function takeLateWindows(windows: Map<number, LateWindow>, sizeMs: number, until: number, closed: LateWindow[]): Array<{ windowStart: number; counts: Array<[string, number]> }> {
  const taken: Array<{ windowStart: number; counts: Array<[string, number]> }> = [];
  if (windows.size === 0) return taken;
  for (const start of [...windows.keys()].sort((a, b) => a - b)) {
    const late = windows.get(start)!;
    if (late.unsent.size > 0) {
      taken.push({ windowStart: start, counts: [...late.unsent].sort(compareText).map((url): [string, number] => [url, late.counts.get(url)!.count]) });
      late.unsent.clear();
    }
    if (start + sizeMs <= until) {
      windows.delete(start);
      closed.push(late);
    }
  }
  return taken;
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

function bucketKey(kind: string, paneStart: number, bucket: number, part: number): string {
  const key = kind + SEP + timeKey(paneStart) + SEP + String(bucket).padStart(2, '0');
  return part === 0 ? key : key + SEP + String(part);
}

/** A closed pane's persisted parts, as deletions. One that never reached the store has none. */
function deletePane(kind: string, pane: OpenPane, changes: StateChanges): void {
  pane.persistedParts.forEach((parts, bucket) => {
    for (let part = 0; part < parts; part++) changes.set(bucketKey(kind, pane.start, bucket, part), null);
  });
}

/** The buckets of a pane that changed since the last checkpoint, as puts (and stale parts as deletions). */
function putDirtyBuckets(kind: string, pane: OpenPane, changes: StateChanges): void {
  if (pane.dirtyBuckets === 0) return;
  const buckets: Array<Array<[string, number]>> = [];
  for (const [url, entry] of pane.counts) {
    if ((pane.dirtyBuckets & (1 << entry.bucket)) === 0) continue;
    (buckets[entry.bucket] ??= []).push([url, entry.count]);
  }
  // JSON, because a url is any string a client sent (tabs and newlines included).
  buckets.forEach((bucketCounts, bucket) => {
    if (bucketCounts === undefined) return;
    const parts = bucketParts(bucketCounts);
    parts.forEach((part, index) => changes.set(bucketKey(kind, pane.start, bucket, index), part));
    for (let stale = parts.length; stale < pane.persistedParts[bucket]!; stale++) changes.set(bucketKey(kind, pane.start, bucket, stale), null);
    pane.persistedParts[bucket] = parts.length;
  });
  pane.dirtyBuckets = 0;
}

const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

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
