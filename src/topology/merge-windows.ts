// The merge stage: combines the closed panes that every source partition forwards into the
// job's windows, and emits each window once, when it closes: when the watermark of every source
// partition (idle ones aside) has passed its end. Partials are stored per source and replace,
// never add, so a source that replays after a crash cannot count a click twice. Late additions
// (clicks that missed their pane on their partition but not a longer window) come as running
// totals per source and window: the largest is kept.

import { NO_WATERMARK } from './watermark.js';
import { SEP, throwBadEntry, timeKey, type BadEntry, type StateChanges } from './state-keys.js';
import { alignDown, totalWindowStartsOfPane, type WindowSpec } from './windows.js';

export interface SourceProgress {
  watermarkMs: number;
  idle: boolean;
}

export interface CountResult {
  url: string;
  windowStart: number;
  windowEnd: number;
  count: number;
}

export interface TotalResult {
  windowStart: number;
  windowEnd: number;
  count: number;
}

/** A partial that came after its window was emitted: possible only when a source was idle. */
export interface LatePartial {
  sourcePartition: number;
  /** A closed pane (5 s counts and pane totals), or late additions to a total or a minute. */
  kind: 'pane' | 'total' | 'stats';
  /** The pane's start, or the window's. */
  start: number;
  url: string | null;
  count: number;
}

export interface MergeOutput {
  counts: CountResult[];
  totals: TotalResult[];
  /** 1 minute per-url counts, before the join with the url table. */
  stats: CountResult[];
  late: LatePartial[];
}

export function emptyOutput(): MergeOutput {
  return { counts: [], totals: [], stats: [], late: [] };
}

const COUNT = 'count';
const MINUTE = 'minute';
const TOTAL = 'total';
const LATE_TOTAL = 'ltotal';
const LATE_STATS = 'lstats';
const SOURCE = 'source';
const FRONTIER = `meta${SEP}frontier`;
const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class MergeWindows {
  private readonly sources = new Map<number, SourceProgress>();
  /** pane start -> url -> count per source partition, until the pane's 5 s window is emitted. */
  private readonly paneCounts = new Map<number, Map<string, number[]>>();
  /** minute start -> url -> clicks of the panes already emitted (final). */
  private readonly minuteCounts = new Map<number, Map<string, number>>();
  /** pane start -> total per source partition. */
  private readonly paneTotals = new Map<number, number[]>();
  /** total window start -> late additions per source partition, until the window is emitted. */
  private readonly lateTotals = new Map<number, number[]>();
  /** minute start -> url -> late additions per source partition, until the minute is emitted. */
  private readonly lateStats = new Map<number, Map<string, number[]>>();
  /**
   * Running totals of late additions to windows already emitted, per source, from a source whose
   * watermark had not passed them (one left out as idle): what came after is reported late, once.
   * Kept in memory until that source's watermark passes the window (a restarted merge task may
   * report such clicks again: a diagnostic count, the outputs do not depend on it).
   */
  private readonly lateReported = new Map<string, { source: number; end: number; count: number }>();
  /** Every window ending at or before this has been emitted. */
  private frontier = NO_WATERMARK;
  private changes: StateChanges = new Map();
  /** Keys created since the last checkpoint: not in the store, so deleting them is a no-op. */
  private unpersisted = new Set<string>();

  constructor(
    private readonly spec: WindowSpec,
    private readonly sourcePartitions: number,
  ) {}

  get frontierMs(): number {
    return this.frontier;
  }


  /** Number of (window, url) entries held. */
  get openKeyCount(): number {
    let keys = 0;
    for (const urls of this.paneCounts.values()) keys += urls.size;
    for (const urls of this.minuteCounts.values()) keys += urls.size;
    for (const urls of this.lateStats.values()) keys += urls.size;
    return keys + this.lateTotals.size;
  }

  addPaneCount(source: number, paneStart: number, url: string, count: number, out: MergeOutput): void {
    if (!this.admits(source, paneStart + this.spec.paneMs, 'pane', paneStart, url, count, out)) return;
    this.setPerSource(rowsOf(this.paneCounts, paneStart), url, source, count, countKey(paneStart, url));
  }

  addPaneTotal(source: number, paneStart: number, count: number, out: MergeOutput): void {
    if (!this.admits(source, paneStart + this.spec.paneMs, 'pane', paneStart, null, count, out)) return;
    this.setPerSource(this.paneTotals, paneStart, source, count, totalKey(paneStart));
  }

  /** A source's running total of late additions to a 10 s total window. */
  addLateTotal(source: number, windowStart: number, count: number, out: MergeOutput): void {
    if (!this.admits(source, windowStart + this.spec.totalWindowMs, 'total', windowStart, null, count, out)) return;
    this.setPerSource(this.lateTotals, windowStart, source, count, lateTotalKey(windowStart), true);
  }

  /** A source's running total of late additions to a url's minute. */
  addLateStats(source: number, windowStart: number, url: string, count: number, out: MergeOutput): void {
    if (!this.admits(source, windowStart + this.spec.statsWindowMs, 'stats', windowStart, url, count, out)) return;
    this.setPerSource(rowsOf(this.lateStats, windowStart), url, source, count, lateStatsKey(windowStart, url), true);
  }

  /**
   * Whether a partial for a pane or window ending at `end` applies: not a replay, and not for a
   * window already emitted (possible only after idleness: then it is reported late).
   */
  private admits(source: number, end: number, kind: LatePartial['kind'], start: number, url: string | null, count: number, out: MergeOutput): boolean {
    if (this.isReplayUntil(source, end)) return false;
    if (end > this.frontier) return true;
    if (kind === 'pane') {
      out.late.push({ sourcePartition: source, kind, start, url, count });
      return false;
    }
    // A running total: report only the clicks it adds to what this source's totals for the
    // window already held (counted when it was emitted, or reported late before).
    const key = lateReportKey(kind, start, url, source);
    const before = this.lateReported.get(key)?.count ?? 0;
    if (count > before) {
      this.lateReported.set(key, { source, end, count });
      out.late.push({ sourcePartition: source, kind, start, url, count: count - before });
    }
    return false;
  }

  /**
   * Sets one source's value in a per-source row (created at zeros), and persists the row. A
   * running total only grows: a source replaying from its checkpoint re-sends smaller ones on its
   * way back to the same final value, so the largest seen is kept.
   */
  private setPerSource<K>(rows: Map<K, number[]>, rowKey: K, source: number, count: number, storeKey: string, runningTotal = false): void {
    let perSource = rows.get(rowKey);
    if (runningTotal && count <= (perSource?.[source] ?? 0)) return;
    const created = perSource === undefined;
    if (perSource === undefined) rows.set(rowKey, (perSource = new Array<number>(this.sourcePartitions).fill(0)));
    perSource[source] = count;
    this.put(storeKey, perSource.join(','), created);
  }

  /** A source's progress; emits every window that closes because of it. */
  updateSource(source: number, watermarkMs: number, idle: boolean, out: MergeOutput): void {
    this.checkSource(source);
    const previous = this.sources.get(source);
    // Watermarks only move forward: a source replaying from an older checkpoint repeats old ones.
    const progress = { watermarkMs: Math.max(previous?.watermarkMs ?? NO_WATERMARK, watermarkMs), idle };
    if (previous?.watermarkMs !== progress.watermarkMs || previous.idle !== idle) {
      this.sources.set(source, progress);
      this.changes.set(SOURCE + SEP + source, `${progress.watermarkMs},${idle ? 1 : 0}`);
    }
    if (this.lateReported.size > 0) {
      for (const [key, reported] of this.lateReported) if (reported.source === source && reported.end <= progress.watermarkMs) this.lateReported.delete(key);
    }
    this.emitClosed(out);
  }

  /** At a window's emission: what each source not yet past it had added late (see lateReported). */
  private rememberEmittedLate(kind: 'total' | 'stats', start: number, end: number, url: string | null, perSource: number[]): void {
    perSource.forEach((count, source) => {
      const progress = this.sources.get(source);
      if (count > 0 && (progress === undefined || progress.watermarkMs < end)) this.lateReported.set(lateReportKey(kind, start, url, source), { source, end, count });
    });
  }

  /** The watermark windows close on: the minimum over sources, idle ones left out. */
  mergedWatermark(): number {
    if (this.sources.size < this.sourcePartitions) return NO_WATERMARK; // a source not heard from yet
    let min = Number.POSITIVE_INFINITY;
    for (const progress of this.sources.values()) if (!progress.idle && progress.watermarkMs < min) min = progress.watermarkMs;
    return min;
  }

  /**
   * The source already said its watermark passed this end: it sent everything for the pane or
   * window ending there before (a source sends them ahead of the watermark that closes them).
   */
  private isReplayUntil(source: number, end: number): boolean {
    this.checkSource(source);
    const progress = this.sources.get(source);
    return progress !== undefined && end <= progress.watermarkMs;
  }

  private checkSource(source: number): void {
    if (!(source >= 0 && source < this.sourcePartitions)) {
      throw new Error(`partial from source partition ${source}, but the job has ${this.sourcePartitions} source partitions`);
    }
  }

  private emitClosed(out: MergeOutput): void {
    const target = this.mergedWatermark();
    if (target <= this.frontier) return;
    const { paneMs, totalWindowMs, statsWindowMs } = this.spec;
    const closes = (end: number): boolean => end > this.frontier && end <= target;
    let lastEnd = this.frontier;
    const note = (end: number): void => {
      if (end > lastEnd) lastEnd = end;
    };
    const ascending = (a: number, b: number): number => a - b;

    // 5 s counts: emit, then fold the now final pane into its minute.
    for (const paneStart of [...this.paneCounts.keys()].sort(ascending)) {
      if (!closes(paneStart + paneMs)) continue;
      const urls = this.paneCounts.get(paneStart)!;
      const minute = alignDown(paneStart, statsWindowMs);
      let perUrl = this.minuteCounts.get(minute);
      const minuteCreated = perUrl === undefined;
      if (perUrl === undefined) this.minuteCounts.set(minute, (perUrl = new Map()));
      for (const url of [...urls.keys()].sort(compareText)) {
        const count = sum(urls.get(url)!);
        out.counts.push({ url, windowStart: paneStart, windowEnd: paneStart + paneMs, count });
        const before = perUrl.get(url);
        perUrl.set(url, (before ?? 0) + count);
        this.put(minuteKey(minute, url), String((before ?? 0) + count), minuteCreated || before === undefined);
        this.remove(countKey(paneStart, url));
      }
      this.paneCounts.delete(paneStart);
      note(paneStart + paneMs);
    }

    const totalStarts = new Set<number>(this.lateTotals.keys());
    for (const paneStart of this.paneTotals.keys()) for (const start of totalWindowStartsOfPane(paneStart, this.spec)) totalStarts.add(start);
    for (const start of [...totalStarts].sort(ascending)) {
      if (!closes(start + totalWindowMs)) continue;
      let count = 0;
      for (let pane = start; pane < start + totalWindowMs; pane += paneMs) {
        const perSource = this.paneTotals.get(pane);
        if (perSource !== undefined) count += sum(perSource);
      }
      const late = this.lateTotals.get(start);
      if (late !== undefined) {
        count += sum(late);
        this.rememberEmittedLate('total', start, start + totalWindowMs, null, late);
        this.lateTotals.delete(start);
        this.remove(lateTotalKey(start));
      }
      out.totals.push({ windowStart: start, windowEnd: start + totalWindowMs, count });
      note(start + totalWindowMs);
    }

    const minutes = new Set<number>([...this.minuteCounts.keys(), ...this.lateStats.keys()]);
    for (const minute of [...minutes].sort(ascending)) {
      if (!closes(minute + statsWindowMs)) continue;
      const onTime = this.minuteCounts.get(minute) ?? new Map<string, number>();
      const late = this.lateStats.get(minute) ?? new Map<string, number[]>();
      for (const url of [...new Set([...onTime.keys(), ...late.keys()])].sort(compareText)) {
        const lateCounts = late.get(url);
        out.stats.push({ url, windowStart: minute, windowEnd: minute + statsWindowMs, count: (onTime.get(url) ?? 0) + (lateCounts === undefined ? 0 : sum(lateCounts)) });
        if (onTime.has(url)) this.remove(minuteKey(minute, url));
        if (lateCounts !== undefined) {
          this.rememberEmittedLate('stats', minute, minute + statsWindowMs, url, lateCounts);
          this.remove(lateStatsKey(minute, url));
        }
      }
      this.minuteCounts.delete(minute);
      this.lateStats.delete(minute);
      note(minute + statsWindowMs);
    }

    // All idle: windows closed up to the last one holding data; later panes before it are late.
    this.frontier = Number.isFinite(target) ? target : lastEnd;
    this.changes.set(FRONTIER, String(this.frontier));
    // Pane totals are needed until both total windows holding them have been emitted.
    for (const paneStart of [...this.paneTotals.keys()]) {
      if (alignDown(paneStart, this.spec.totalSlideMs) + totalWindowMs > this.frontier) continue;
      this.paneTotals.delete(paneStart);
      this.remove(totalKey(paneStart));
    }
  }

  private put(key: string, value: string, created: boolean): void {
    if (created && !this.changes.has(key)) this.unpersisted.add(key);
    this.changes.set(key, value);
  }

  private remove(key: string): void {
    if (this.unpersisted.delete(key)) this.changes.delete(key);
    else this.changes.set(key, null);
  }

  takeChanges(): StateChanges {
    const changes = this.changes;
    this.changes = new Map();
    this.unpersisted = new Set();
    return changes;
  }

  /**
   * Rebuilds the state from persisted entries. An entry that is not one goes to `onBadEntry`,
   * which throws by default (a savepoint is refused); a worker opening a task passes one that
   * counts and skips it (state from Kafka must not stop the job).
   */
  static restore(spec: WindowSpec, sourcePartitions: number, entries: Iterable<[string, string]>, onBadEntry: BadEntry = throwBadEntry): MergeWindows {
    const merge = new MergeWindows(spec, sourcePartitions);
    const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0;
    const perSource = (value: string): number[] | undefined => {
      const counts = value.split(',').map(Number);
      return counts.length === sourcePartitions && counts.every(isCount) ? counts : undefined;
    };
    for (const [key, value] of entries) {
      if (key === FRONTIER) {
        const frontier = Number(value);
        if (Number.isSafeInteger(frontier)) merge.frontier = frontier;
        else onBadEntry(key, 'not a time');
        continue;
      }
      const first = key.indexOf(SEP);
      const kind = key.slice(0, first);
      const second = key.indexOf(SEP, first + 1);
      const time = Number(key.slice(first + 1, second < 0 ? undefined : second));
      const url = second < 0 ? '' : key.slice(second + 1);
      if (first < 0 || !Number.isSafeInteger(time)) {
        onBadEntry(key, 'not a merge state key');
        continue;
      }
      switch (kind) {
        case COUNT:
        case LATE_STATS: {
          const counts = perSource(value);
          if (counts === undefined || url === '') onBadEntry(key, `not a count per each of ${sourcePartitions} source partitions`);
          else rowsOf(kind === COUNT ? merge.paneCounts : merge.lateStats, time).set(url, counts);
          break;
        }
        case MINUTE: {
          const count = Number(value);
          if (!isCount(count) || url === '') {
            onBadEntry(key, 'not a count');
            break;
          }
          let urls = merge.minuteCounts.get(time);
          if (urls === undefined) merge.minuteCounts.set(time, (urls = new Map()));
          urls.set(url, count);
          break;
        }
        case TOTAL:
        case LATE_TOTAL: {
          const counts = perSource(value);
          if (counts === undefined || url !== '') onBadEntry(key, `not a count per each of ${sourcePartitions} source partitions`);
          else (kind === TOTAL ? merge.paneTotals : merge.lateTotals).set(time, counts);
          break;
        }
        case SOURCE: {
          const [watermarkText, idle] = value.split(',');
          const watermarkMs = Number(watermarkText);
          if (!Number.isInteger(time) || time < 0 || time >= sourcePartitions || !Number.isSafeInteger(watermarkMs) || (idle !== '0' && idle !== '1')) {
            onBadEntry(key, 'not a source partition\'s progress');
            break;
          }
          merge.sources.set(time, { watermarkMs, idle: idle === '1' });
          break;
        }
        default:
          onBadEntry(key, 'not a merge state key');
      }
    }
    return merge;
  }
}

/** The rows of one pane or minute, created empty. */
function rowsOf(byTime: Map<number, Map<string, number[]>>, time: number): Map<string, number[]> {
  let rows = byTime.get(time);
  if (rows === undefined) byTime.set(time, (rows = new Map()));
  return rows;
}

function countKey(paneStart: number, url: string): string {
  return COUNT + SEP + timeKey(paneStart) + SEP + url;
}

function minuteKey(minute: number, url: string): string {
  return MINUTE + SEP + timeKey(minute) + SEP + url;
}

function totalKey(paneStart: number): string {
  return TOTAL + SEP + timeKey(paneStart);
}

function lateReportKey(kind: string, start: number, url: string | null, source: number): string {
  return `${kind}${SEP}${start}${SEP}${source}${SEP}${url ?? ''}`;
}

function lateTotalKey(windowStart: number): string {
  return LATE_TOTAL + SEP + timeKey(windowStart);
}

function lateStatsKey(minute: number, url: string): string {
  return LATE_STATS + SEP + timeKey(minute) + SEP + url;
}

function sum(values: number[]): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}
