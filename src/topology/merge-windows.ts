// The merge stage: combines the closed panes that every source partition forwards into the
// job's windows, and emits each window when it closes: when the watermark of every source
// partition (idle ones aside) has passed its end. Partials are stored per source and replace,
// never add, so a source that replays after a crash cannot count a click twice. Late additions
// (clicks that missed their pane on their partition but not a longer window) come as running
// totals per source and window: the largest is kept.
//
// Allowed lateness D: a window's first result is revision 0; until the merged watermark passes
// its end + D the window keeps its rows, and every change to them (late additions, or a pane of
// a source that was idle) that changes its count emits the next revision. Once past end + D it
// is emitted one last time, final, and forgotten. With D = 0 the first result is final.

import { NO_WATERMARK } from './watermark.js';
import { LATENESS_KEY, LATE_PANES_UNTIL, SEP, parseLateness, throwBadEntry, timeKey, type BadEntry, type StateChanges } from './state-keys.js';
import { alignDown, totalWindowStartsOfPane, type WindowSpec } from './windows.js';

export interface SourceProgress {
  watermarkMs: number;
  idle: boolean;
}

/** Where a result stands among the corrections of its window. */
export interface Revision {
  /** 0 for the first result, one more per correction. */
  revision: number;
  /** No later revision will come. */
  final: boolean;
}

export interface CountResult extends Revision {
  url: string;
  windowStart: number;
  windowEnd: number;
  count: number;
}

export interface TotalResult extends Revision {
  windowStart: number;
  windowEnd: number;
  count: number;
}

/** A partial that came after its window was final: possible only when a source was idle. */
export interface LatePartial {
  sourcePartition: number;
  /** A closed pane (5 s counts and pane totals), or late additions to a pane, a total or a minute. */
  kind: 'pane' | 'latePane' | 'total' | 'stats';
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

/** The last result emitted for a window that still takes corrections. */
interface Emitted {
  revision: number;
  count: number;
}

const COUNT = 'count';
const MINUTE = 'minute';
const TOTAL = 'total';
const LATE_PANE = 'lpane';
const LATE_TOTAL = 'ltotal';
const LATE_STATS = 'lstats';
/** Emitted, not final: `rcount!<pane>!<url>`, `rtotal!<start>`, `rstats!<minute>!<url>` -> "revision,count". */
const EMITTED_COUNT = 'rcount';
const EMITTED_TOTAL = 'rtotal';
const EMITTED_STATS = 'rstats';
const SOURCE = 'source';
const FRONTIER = `meta${SEP}frontier`;
const FINAL_UNTIL = `meta${SEP}finalUntil`;
const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const ascending = (a: number, b: number): number => a - b;

export class MergeWindows {
  private readonly sources = new Map<number, SourceProgress>();
  /** pane start -> url -> count per source partition, until the pane's 5 s window is final. */
  private readonly paneCounts = new Map<number, Map<string, number[]>>();
  /** pane start -> url -> late additions per source partition, until the pane is final. */
  private readonly latePanes = new Map<number, Map<string, number[]>>();
  /** minute start -> url -> clicks of the panes already emitted, until the minute is final. */
  private readonly minuteCounts = new Map<number, Map<string, number>>();
  /** pane start -> total per source partition, until both total windows holding it are final. */
  private readonly paneTotals = new Map<number, number[]>();
  /** total window start -> late additions per source partition, until the window is final. */
  private readonly lateTotals = new Map<number, number[]>();
  /** minute start -> url -> late additions per source partition, until the minute is final. */
  private readonly lateStats = new Map<number, Map<string, number[]>>();
  /** Emitted windows that still take corrections (allowed lateness), by pane/start/minute. */
  private readonly emittedCounts = new Map<number, Map<string, Emitted>>();
  private readonly emittedTotals = new Map<number, Emitted>();
  private readonly emittedStats = new Map<number, Map<string, Emitted>>();
  /**
   * Running totals of late additions to windows already final, per source, from a source whose
   * watermark had not passed them (one left out as idle): what came after is reported late, once.
   * Kept in memory until that source's watermark passes the window (a restarted merge task may
   * report such clicks again: a diagnostic count, the outputs do not depend on it).
   */
  private readonly lateReported = new Map<string, { source: number; end: number; count: number }>();
  /** Every window ending at or before this has been emitted. */
  private frontier = NO_WATERMARK;
  /** Every window ending at or before this is final (D before the frontier, or all of them when every source went idle). */
  private finalUntil = NO_WATERMARK;
  private changes: StateChanges = new Map();
  /** Keys created since the last checkpoint: not in the store, so deleting them is a no-op. */
  private unpersisted = new Set<string>();
  private readonly latenessMs: number;
  /** The lateness the restored state was built with (undefined: new, or from before it was kept). */
  restoredLatenessMs: number | undefined;
  /** Panes ending by this may get late additions without an allowed lateness (set by a restore that shortened it). */
  private latePanesUntil = NO_WATERMARK;

  constructor(
    private readonly spec: WindowSpec,
    readonly sourcePartitions: number,
  ) {
    this.latenessMs = spec.allowedLatenessMs;
    this.changes.set(LATENESS_KEY, String(this.latenessMs));
  }

  /**
   * Whether late additions to the 5 s pane starting at `paneStart` may come: with an allowed
   * lateness, or, restored from a savepoint taken with one, for a pane its sources had closed by
   * then (they re-send what they held for it, and what was in flight is read again).
   */
  takesLatePane(paneStart: number): boolean {
    return this.latenessMs > 0 || paneStart + this.spec.paneMs <= this.latePanesUntil;
  }

  /**
   * Whether a source that says it runs with `latenessMs` is one of this job's: the same lateness,
   * or a longer one from before a restore that shortened it (its last partials may be in flight).
   */
  takesSourceLateness(latenessMs: number): boolean {
    return latenessMs === this.latenessMs || (latenessMs > this.latenessMs && this.latePanesUntil !== NO_WATERMARK);
  }

  get frontierMs(): number {
    return this.frontier;
  }

  /** Number of (window, url) entries held. */
  get openKeyCount(): number {
    let keys = 0;
    for (const byUrl of [this.paneCounts, this.latePanes, this.minuteCounts, this.lateStats, this.emittedCounts, this.emittedStats]) {
      for (const urls of byUrl.values()) keys += urls.size;
    }
    return keys + this.lateTotals.size + this.emittedTotals.size;
  }

  addPaneCount(source: number, paneStart: number, url: string, count: number, out: MergeOutput): void {
    const end = paneStart + this.spec.paneMs;
    if (!this.admits(source, end, end, 'pane', paneStart, url, count, out)) return;
    const before = this.setPerSource(rowsOf(this.paneCounts, paneStart), url, source, count, countKey(paneStart, url));
    if (before === undefined || end > this.frontier) return;
    // A pane of a source that was idle, for a 5 s window already emitted: a correction, and its
    // minute (which sums emitted panes) changes by as much.
    const minute = alignDown(paneStart, this.spec.statsWindowMs);
    let perUrl = this.minuteCounts.get(minute);
    if (perUrl === undefined) this.minuteCounts.set(minute, (perUrl = new Map()));
    const folded = perUrl.get(url);
    perUrl.set(url, (folded ?? 0) + count - before);
    this.put(minuteKey(minute, url), String((folded ?? 0) + count - before), folded === undefined);
    this.correctCount(paneStart, url, out);
    if (minute + this.spec.statsWindowMs <= this.frontier) this.correctStats(minute, url, out);
  }

  addPaneTotal(source: number, paneStart: number, count: number, out: MergeOutput): void {
    const end = paneStart + this.spec.paneMs;
    if (!this.admits(source, end, end, 'pane', paneStart, null, count, out)) return;
    if (this.setPerSource(this.paneTotals, paneStart, source, count, totalKey(paneStart)) === undefined || end > this.frontier) return;
    for (const start of totalWindowStartsOfPane(paneStart, this.spec)) if (start + this.spec.totalWindowMs <= this.frontier) this.correctTotal(start, out);
  }

  /** A source's running total of late additions to a closed pane's 5 s count of a url. */
  addLatePane(source: number, paneStart: number, url: string, count: number, out: MergeOutput): void {
    const end = paneStart + this.spec.paneMs;
    if (!this.admits(source, end, end + this.latenessMs, 'latePane', paneStart, url, count, out)) return;
    if (this.setPerSource(rowsOf(this.latePanes, paneStart), url, source, count, latePaneKey(paneStart, url), true) !== undefined && end <= this.frontier) this.correctCount(paneStart, url, out);
  }

  /** A source's running total of late additions to a 10 s total window. */
  addLateTotal(source: number, windowStart: number, count: number, out: MergeOutput): void {
    const end = windowStart + this.spec.totalWindowMs;
    if (!this.admits(source, end, end + this.latenessMs, 'total', windowStart, null, count, out)) return;
    if (this.setPerSource(this.lateTotals, windowStart, source, count, lateTotalKey(windowStart), true) !== undefined && end <= this.frontier) this.correctTotal(windowStart, out);
  }

  /** A source's running total of late additions to a url's minute. */
  addLateStats(source: number, windowStart: number, url: string, count: number, out: MergeOutput): void {
    const end = windowStart + this.spec.statsWindowMs;
    if (!this.admits(source, end, end + this.latenessMs, 'stats', windowStart, url, count, out)) return;
    if (this.setPerSource(rowsOf(this.lateStats, windowStart), url, source, count, lateStatsKey(windowStart, url), true) !== undefined && end <= this.frontier) this.correctStats(windowStart, url, out);
  }

  /**
   * Whether a partial for a pane or window ending at `end` applies. Not a replay: the source's
   * watermark has not passed `sentUntil` (a source sends a pane before the watermark that closes
   * it, and late additions to a window until its watermark passes the window's end + D). Not for
   * a window already final (possible only after idleness: then it is reported late).
   */
  private admits(source: number, end: number, sentUntil: number, kind: LatePartial['kind'], start: number, url: string | null, count: number, out: MergeOutput): boolean {
    // A running total for a window not final: the largest is kept, so a replay changes nothing.
    // (After a restore with a shorter lateness, a source re-sends what it held for such a window
    // though its watermark is past the new end + D: not a replay, and not to be lost.)
    if (kind !== 'pane' && end > this.finalUntil) return true;
    if (this.isReplayUntil(source, sentUntil)) return false;
    if (end > this.finalUntil) return true;
    if (kind === 'pane') {
      out.late.push({ sourcePartition: source, kind, start, url, count });
      return false;
    }
    // A running total: report only the clicks it adds to what this source's totals for the
    // window already held (counted when it was final, or reported late before).
    const key = lateReportKey(kind, start, url, source);
    const before = this.lateReported.get(key)?.count ?? 0;
    if (count > before) {
      this.lateReported.set(key, { source, end: end + this.latenessMs, count });
      out.late.push({ sourcePartition: source, kind, start, url, count: count - before });
    }
    return false;
  }

  /**
   * Sets one source's value in a per-source row (created at zeros), and persists the row. A
   * running total only grows: a source replaying from its checkpoint re-sends smaller ones on its
   * way back to the same final value, so the largest seen is kept. Returns the value it replaced,
   * or undefined if nothing changed.
   */
  private setPerSource<K>(rows: Map<K, number[]>, rowKey: K, source: number, count: number, storeKey: string, runningTotal = false): number | undefined {
    let perSource = rows.get(rowKey);
    const before = perSource?.[source] ?? 0;
    if (runningTotal && count <= before) return undefined;
    const created = perSource === undefined;
    if (perSource === undefined) rows.set(rowKey, (perSource = new Array<number>(this.sourcePartitions).fill(0)));
    perSource[source] = count;
    this.put(storeKey, perSource.join(','), created);
    return before;
  }

  /** A source's progress; emits every window that closes, or becomes final, because of it. */
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

  /** When a window becomes final: what each source not yet past it had added late (see lateReported). */
  private rememberFinalLate(kind: LatePartial['kind'], start: number, end: number, url: string | null, perSource: number[] | undefined): void {
    if (perSource === undefined) return;
    const until = end + this.latenessMs;
    perSource.forEach((count, source) => {
      const progress = this.sources.get(source);
      if (count > 0 && (progress === undefined || progress.watermarkMs < until)) this.lateReported.set(lateReportKey(kind, start, url, source), { source, end: until, count });
    });
  }

  /** A source partition's progress as this task last heard it (undefined: not heard from yet). */
  progressOf(source: number): Readonly<SourceProgress> | undefined {
    return this.sources.get(source);
  }

  /** The watermark windows close on: the minimum over sources, idle ones left out. */
  mergedWatermark(): number {
    if (this.sources.size < this.sourcePartitions) return NO_WATERMARK; // a source not heard from yet
    let min = Number.POSITIVE_INFINITY;
    for (const progress of this.sources.values()) if (!progress.idle && progress.watermarkMs < min) min = progress.watermarkMs;
    return min;
  }

  /** The source already said its watermark passed `until`: it sent everything due before it. */
  private isReplayUntil(source: number, until: number): boolean {
    this.checkSource(source);
    const progress = this.sources.get(source);
    return progress !== undefined && until <= progress.watermarkMs;
  }

  private checkSource(source: number): void {
    if (!(source >= 0 && source < this.sourcePartitions)) {
      throw new Error(`partial from source partition ${source}, but the job has ${this.sourcePartitions} source partitions`);
    }
  }

  // ------------------------------------------------------------- counts of one window, from its rows

  private countOf(paneStart: number, url: string): number {
    return sumOf(this.paneCounts.get(paneStart)?.get(url)) + sumOf(this.latePanes.get(paneStart)?.get(url));
  }

  private totalOf(start: number): number {
    let count = sumOf(this.lateTotals.get(start));
    for (let pane = start; pane < start + this.spec.totalWindowMs; pane += this.spec.paneMs) count += sumOf(this.paneTotals.get(pane));
    return count;
  }

  private statsOf(minute: number, url: string): number {
    return (this.minuteCounts.get(minute)?.get(url) ?? 0) + sumOf(this.lateStats.get(minute)?.get(url));
  }

  // ------------------------------------------------------------- corrections (allowed lateness)

  /** An emitted, not final, 5 s window's rows changed: the next revision if its count did. */
  private correctCount(paneStart: number, url: string, out: MergeOutput): void {
    const next = this.revise(rowsOf(this.emittedCounts, paneStart), url, this.countOf(paneStart, url), emittedCountKey(paneStart, url));
    if (next !== undefined) out.counts.push({ url, windowStart: paneStart, windowEnd: paneStart + this.spec.paneMs, count: next.count, revision: next.revision, final: false });
  }

  private correctTotal(start: number, out: MergeOutput): void {
    const next = this.revise(this.emittedTotals, start, this.totalOf(start), emittedTotalKey(start));
    if (next !== undefined) out.totals.push({ windowStart: start, windowEnd: start + this.spec.totalWindowMs, count: next.count, revision: next.revision, final: false });
  }

  private correctStats(minute: number, url: string, out: MergeOutput): void {
    const next = this.revise(rowsOf(this.emittedStats, minute), url, this.statsOf(minute, url), emittedStatsKey(minute, url));
    if (next !== undefined) out.stats.push({ url, windowStart: minute, windowEnd: minute + this.spec.statsWindowMs, count: next.count, revision: next.revision, final: false });
  }

  /** The next revision of a window whose count is now `count`, or undefined if it did not change. */
  private revise<K>(emitted: Map<K, Emitted>, key: K, count: number, storeKey: string): Emitted | undefined {
    const last = emitted.get(key);
    if (last !== undefined && last.count === count) return undefined;
    // A window first emitted without this key (no click then) gets its first result now.
    const next = { revision: last === undefined ? 0 : last.revision + 1, count };
    emitted.set(key, next);
    this.put(storeKey, `${next.revision},${next.count}`, last === undefined);
    return next;
  }

  // ------------------------------------------------------------- closing and finishing windows

  private emitClosed(out: MergeOutput): void {
    const target = this.mergedWatermark();
    if (target <= this.frontier) return;
    const { paneMs, totalWindowMs, statsWindowMs } = this.spec;
    const closes = (end: number): boolean => end > this.frontier && end <= target;
    let lastEnd = this.frontier;
    const note = (end: number): void => {
      if (end > lastEnd) lastEnd = end;
    };
    // All idle: windows close up to the last one holding data (later panes before it are late)
    // and are final: no source holds them open (as with no allowed lateness, a source that
    // wakes up with clicks for them is reported late).
    const lastClosing = (): number => (Number.isFinite(target) ? target : lastEnd);
    const hold = this.latenessMs > 0;

    // 5 s counts: emit, then fold the pane (its on-time part: late additions to the minute come
    // on their own) into its minute.
    const panes = new Set<number>([...this.paneCounts.keys(), ...this.latePanes.keys()]);
    for (const paneStart of [...panes].sort(ascending)) {
      if (!closes(paneStart + paneMs)) continue;
      const onTime = this.paneCounts.get(paneStart);
      const late = this.latePanes.get(paneStart);
      const minute = alignDown(paneStart, statsWindowMs);
      let perUrl = this.minuteCounts.get(minute);
      const minuteCreated = perUrl === undefined;
      if (perUrl === undefined) this.minuteCounts.set(minute, (perUrl = new Map()));
      const urls = new Set<string>([...(onTime?.keys() ?? []), ...(late?.keys() ?? [])]);
      const emitted = hold ? rowsOf(this.emittedCounts, paneStart) : undefined;
      for (const url of [...urls].sort(compareText)) {
        const count = this.countOf(paneStart, url);
        out.counts.push({ url, windowStart: paneStart, windowEnd: paneStart + paneMs, count, revision: 0, final: !hold });
        emitted?.set(url, { revision: 0, count });
        if (emitted !== undefined) this.put(emittedCountKey(paneStart, url), `0,${count}`, true);
        const onTimeCount = sumOf(onTime?.get(url));
        if (onTimeCount === 0 && onTime?.has(url) !== true) continue;
        const before = perUrl.get(url);
        perUrl.set(url, (before ?? 0) + onTimeCount);
        this.put(minuteKey(minute, url), String((before ?? 0) + onTimeCount), minuteCreated || before === undefined);
      }
      note(paneStart + paneMs);
    }

    const totalStarts = new Set<number>(this.lateTotals.keys());
    for (const paneStart of this.paneTotals.keys()) for (const start of totalWindowStartsOfPane(paneStart, this.spec)) totalStarts.add(start);
    for (const start of [...totalStarts].sort(ascending)) {
      if (!closes(start + totalWindowMs)) continue;
      const count = this.totalOf(start);
      out.totals.push({ windowStart: start, windowEnd: start + totalWindowMs, count, revision: 0, final: !hold });
      if (hold) {
        this.emittedTotals.set(start, { revision: 0, count });
        this.put(emittedTotalKey(start), `0,${count}`, true);
      }
      note(start + totalWindowMs);
    }

    const minutes = new Set<number>([...this.minuteCounts.keys(), ...this.lateStats.keys()]);
    for (const minute of [...minutes].sort(ascending)) {
      if (!closes(minute + statsWindowMs)) continue;
      const urls = new Set<string>([...(this.minuteCounts.get(minute)?.keys() ?? []), ...(this.lateStats.get(minute)?.keys() ?? [])]);
      const emitted = hold ? rowsOf(this.emittedStats, minute) : undefined;
      for (const url of [...urls].sort(compareText)) {
        const count = this.statsOf(minute, url);
        out.stats.push({ url, windowStart: minute, windowEnd: minute + statsWindowMs, count, revision: 0, final: !hold });
        emitted?.set(url, { revision: 0, count });
        if (emitted !== undefined) this.put(emittedStatsKey(minute, url), `0,${count}`, true);
      }
      note(minute + statsWindowMs);
    }

    this.frontier = lastClosing();
    this.changes.set(FRONTIER, String(this.frontier));
    const finalUntil = Number.isFinite(target) ? target - this.latenessMs : this.frontier;
    if (finalUntil > this.finalUntil) {
      this.finalUntil = finalUntil;
      this.changes.set(FINAL_UNTIL, String(finalUntil));
    }
    this.finish(this.finalUntil, out);
  }

  /**
   * Every window ending at or before `until` is final: with allowed lateness its last revision
   * goes out marked final; its rows are forgotten.
   */
  private finish(until: number, out: MergeOutput): void {
    const { paneMs, totalWindowMs, statsWindowMs } = this.spec;
    this.finishPerUrl(this.emittedCounts, paneMs, until, out.counts, emittedCountKey);
    for (const start of [...this.emittedTotals.keys()].sort(ascending)) {
      if (start + totalWindowMs > until) continue;
      const last = this.emittedTotals.get(start)!;
      out.totals.push({ windowStart: start, windowEnd: start + totalWindowMs, count: last.count, revision: last.revision + 1, final: true });
      this.emittedTotals.delete(start);
      this.remove(emittedTotalKey(start));
    }
    this.finishPerUrl(this.emittedStats, statsWindowMs, until, out.stats, emittedStatsKey);

    // Rows of final windows.
    for (const [paneStart, urls] of [...this.paneCounts]) {
      if (paneStart + paneMs > until) continue;
      for (const url of urls.keys()) this.remove(countKey(paneStart, url));
      this.paneCounts.delete(paneStart);
    }
    for (const [paneStart, urls] of [...this.latePanes]) {
      if (paneStart + paneMs > until) continue;
      for (const [url, perSource] of urls) {
        this.rememberFinalLate('latePane', paneStart, paneStart + paneMs, url, perSource);
        this.remove(latePaneKey(paneStart, url));
      }
      this.latePanes.delete(paneStart);
    }
    for (const [start, perSource] of [...this.lateTotals]) {
      if (start + totalWindowMs > until) continue;
      this.rememberFinalLate('total', start, start + totalWindowMs, null, perSource);
      this.lateTotals.delete(start);
      this.remove(lateTotalKey(start));
    }
    // Pane totals are needed until both total windows holding them are final.
    for (const paneStart of [...this.paneTotals.keys()]) {
      if (alignDown(paneStart, this.spec.totalSlideMs) + totalWindowMs > until) continue;
      this.paneTotals.delete(paneStart);
      this.remove(totalKey(paneStart));
    }
    for (const [minute, urls] of [...this.minuteCounts]) {
      if (minute + statsWindowMs > until) continue;
      for (const url of urls.keys()) this.remove(minuteKey(minute, url));
      this.minuteCounts.delete(minute);
    }
    for (const [minute, urls] of [...this.lateStats]) {
      if (minute + statsWindowMs > until) continue;
      for (const [url, perSource] of urls) {
        this.rememberFinalLate('stats', minute, minute + statsWindowMs, url, perSource);
        this.remove(lateStatsKey(minute, url));
      }
      this.lateStats.delete(minute);
    }
  }

  /** The last revision, marked final, of every per-url window (5 s or minute) ending by `until`. */
  private finishPerUrl(emittedByStart: Map<number, Map<string, Emitted>>, sizeMs: number, until: number, results: CountResult[], storeKey: (start: number, url: string) => string): void {
    for (const start of [...emittedByStart.keys()].sort(ascending)) {
      if (start + sizeMs > until) continue;
      const emitted = emittedByStart.get(start)!;
      for (const url of [...emitted.keys()].sort(compareText)) {
        const last = emitted.get(url)!;
        results.push({ url, windowStart: start, windowEnd: start + sizeMs, count: last.count, revision: last.revision + 1, final: true });
        this.remove(storeKey(start, url));
      }
      emittedByStart.delete(start);
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
   * counts and skips it (state from Kafka must not stop the job). State kept for a longer allowed
   * lateness than the spec's is finished at the next watermark.
   */
  static restore(spec: WindowSpec, sourcePartitions: number, entries: Iterable<[string, string]>, onBadEntry: BadEntry = throwBadEntry): MergeWindows {
    const merge = new MergeWindows(spec, sourcePartitions);
    let finalUntil: number | undefined;
    const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0;
    const perSource = (value: string): number[] | undefined => {
      const counts = value.split(',').map(Number);
      return counts.length === sourcePartitions && counts.every(isCount) ? counts : undefined;
    };
    const revisionOf = (value: string): Emitted | undefined => {
      const [revision, count] = value.split(',').map(Number);
      return value.split(',').length === 2 && isCount(revision!) && isCount(count!) ? { revision: revision!, count: count! } : undefined;
    };
    for (const [key, value] of entries) {
      if (key === LATENESS_KEY) {
        merge.restoredLatenessMs = parseLateness(value);
        if (merge.restoredLatenessMs === undefined) onBadEntry(key, 'not a duration');
        else if (merge.restoredLatenessMs === spec.allowedLatenessMs) merge.changes.delete(LATENESS_KEY);
        continue;
      }
      if (key === FRONTIER || key === FINAL_UNTIL || key === LATE_PANES_UNTIL) {
        const time = Number(value);
        if (!Number.isSafeInteger(time)) onBadEntry(key, 'not a time');
        else if (key === FRONTIER) merge.frontier = time;
        else if (key === FINAL_UNTIL) finalUntil = time;
        else merge.latePanesUntil = time;
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
        case LATE_PANE:
        case LATE_STATS: {
          const counts = perSource(value);
          if (counts === undefined || url === '') onBadEntry(key, `not a count per each of ${sourcePartitions} source partitions`);
          else rowsOf(kind === COUNT ? merge.paneCounts : kind === LATE_PANE ? merge.latePanes : merge.lateStats, time).set(url, counts);
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
        case EMITTED_COUNT:
        case EMITTED_STATS:
        case EMITTED_TOTAL: {
          const emitted = revisionOf(value);
          if (emitted === undefined || (kind === EMITTED_TOTAL) !== (url === '')) onBadEntry(key, 'not a revision and a count');
          else if (kind === EMITTED_TOTAL) merge.emittedTotals.set(time, emitted);
          else rowsOf(kind === EMITTED_COUNT ? merge.emittedCounts : merge.emittedStats, time).set(url, emitted);
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
    // State written before allowed lateness existed: every window emitted was final.
    merge.finalUntil = finalUntil ?? merge.frontier;
    return merge;
  }
}

/** Merge state keys that name a url (after their time): they move with the url in a rescale. */
const URL_KINDS = new Set([COUNT, MINUTE, LATE_PANE, LATE_STATS, EMITTED_COUNT, EMITTED_STATS]);
/** Merge state values that hold a count per source partition: widened in a rescale. */
const PER_SOURCE_KINDS = new Set([COUNT, LATE_PANE, LATE_STATS, TOTAL, LATE_TOTAL]);

/** The merge state every task of an aligned savepoint holds alike (frontier, source progress). */
export interface SharedMergeState {
  frontierMs: number;
  /** `meta!...` and `source!...` entries, as stored. */
  entries: Array<[string, string]>;
}

/**
 * Rescale (pure): the rows of every merge task of an aligned savepoint, moved to the merge task
 * that owns their url in the new layout (job-wide totals stay with TOTAL_OWNER 0), counts per
 * source partition widened with zeros for the new source partitions, and the shared entries
 * (frontier, finalUntil, each source's progress, the lateness) given to every task, plus the
 * progress of each new source partition at `newSourcesAtMs`. Refuses (throws) tasks that disagree
 * on what they share: they were not aligned, and a url moved to another task would be emitted
 * by a different clock.
 */
export function rescaleMergeState(
  tasks: Array<Array<[string, string]>>,
  oldSources: number,
  newSources: number,
  newMerges: number,
  ownerOf: (url: string) => number,
  newSourcesAtMs: number,
): Array<Array<[string, string]>> {
  const shared = new Map<string, string>();
  const out = Array.from({ length: newMerges }, () => [] as Array<[string, string]>);
  const seen = new Set<string>();
  const widen = (value: string): string => value + ',0'.repeat(newSources - oldSources);
  for (const [t, entries] of tasks.entries()) {
    const own = new Map<string, string>();
    for (const [key, value] of entries) {
      const first = key.indexOf(SEP);
      const kind = key.slice(0, first);
      if (kind === 'meta' || kind === SOURCE) {
        if (key !== LATE_PANES_UNTIL) own.set(key, value);
        else shared.set(key, String(Math.max(Number(value), Number(shared.get(key) ?? value))));
        continue;
      }
      if (seen.has(key)) throw new Error(`merge state key ${key.slice(0, 80)} is held by two merge tasks`);
      seen.add(key);
      const second = key.indexOf(SEP, first + 1);
      const owner = URL_KINDS.has(kind) ? ownerOf(key.slice(second + 1)) : 0;
      out[owner]!.push([key, PER_SOURCE_KINDS.has(kind) ? widen(value) : value]);
    }
    for (const key of [FRONTIER, FINAL_UNTIL]) if (!own.has(key)) own.set(key, String(NO_WATERMARK));
    if (t === 0) {
      for (const [key, value] of own) shared.set(key, value);
      continue;
    }
    for (const [key, value] of own) {
      if (shared.get(key) !== value) throw new Error(`merge tasks disagree on ${key} (${shared.get(key) ?? 'absent'} and ${value}): the savepoint is not aligned`);
    }
    for (const key of shared.keys()) if (key !== LATE_PANES_UNTIL && !own.has(key)) throw new Error(`merge tasks disagree on ${key}: the savepoint is not aligned`);
  }
  for (let source = oldSources; source < newSources; source++) shared.set(SOURCE + SEP + source, `${newSourcesAtMs},0`);
  for (const rows of out) rows.push(...shared);
  return out;
}

/** The rows of one pane or minute, created empty. */
function rowsOf<V>(byTime: Map<number, Map<string, V>>, time: number): Map<string, V> {
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

function latePaneKey(paneStart: number, url: string): string {
  return LATE_PANE + SEP + timeKey(paneStart) + SEP + url;
}

function lateTotalKey(windowStart: number): string {
  return LATE_TOTAL + SEP + timeKey(windowStart);
}

function lateStatsKey(minute: number, url: string): string {
  return LATE_STATS + SEP + timeKey(minute) + SEP + url;
}

function emittedCountKey(paneStart: number, url: string): string {
  return EMITTED_COUNT + SEP + timeKey(paneStart) + SEP + url;
}

function emittedTotalKey(start: number): string {
  return EMITTED_TOTAL + SEP + timeKey(start);
}

function emittedStatsKey(minute: number, url: string): string {
  return EMITTED_STATS + SEP + timeKey(minute) + SEP + url;
}

function sumOf(values: number[] | undefined): number {
  if (values === undefined) return 0;
  let total = 0;
  for (const value of values) total += value;
  return total;
}
