// The merge stage: combines the closed panes that every source partition forwards into the
// job's windows, and emits each window once, when it closes: when the watermark of every source
// partition (idle ones aside) has passed its end. Partials are stored per source and replace,
// never add, so a source that replays after a crash cannot count a click twice.

import { NO_WATERMARK } from './watermark.js';
import { SEP, timeKey, type StateChanges } from './state-keys.js';
import { alignDown, lastEndOfPane, totalWindowStartsOfPane, type WindowSpec } from './windows.js';

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
  paneStart: number;
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
const TOTAL = 'total';
const SOURCE = 'source';
const FRONTIER = `meta${SEP}frontier`;
const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class MergeWindows {
  private readonly sources = new Map<number, SourceProgress>();
  /** pane start -> url -> count per source partition. */
  private readonly paneCounts = new Map<number, Map<string, number[]>>();
  /** pane start -> total per source partition. */
  private readonly paneTotals = new Map<number, number[]>();
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

  get sourceProgress(): ReadonlyMap<number, SourceProgress> {
    return this.sources;
  }

  /** Number of (pane, url) entries held. */
  get openKeyCount(): number {
    let keys = 0;
    for (const urls of this.paneCounts.values()) keys += urls.size;
    return keys;
  }

  addPaneCount(source: number, paneStart: number, url: string, count: number, out: MergeOutput): void {
    if (this.isReplay(source, paneStart)) return;
    if (paneStart + this.spec.paneMs <= this.frontier) {
      out.late.push({ sourcePartition: source, paneStart, url, count });
      return;
    }
    let urls = this.paneCounts.get(paneStart);
    if (urls === undefined) this.paneCounts.set(paneStart, (urls = new Map()));
    let perSource = urls.get(url);
    if (perSource === undefined) urls.set(url, (perSource = new Array<number>(this.sourcePartitions).fill(0)));
    this.put(countKey(paneStart, source, url), String(count), perSource[source] === 0);
    perSource[source] = count;
  }

  addPaneTotal(source: number, paneStart: number, count: number, out: MergeOutput): void {
    if (this.isReplay(source, paneStart)) return;
    if (paneStart + this.spec.paneMs <= this.frontier) {
      out.late.push({ sourcePartition: source, paneStart, url: null, count });
      return;
    }
    let perSource = this.paneTotals.get(paneStart);
    if (perSource === undefined) this.paneTotals.set(paneStart, (perSource = new Array<number>(this.sourcePartitions).fill(0)));
    this.put(totalKey(paneStart, source), String(count), perSource[source] === 0);
    perSource[source] = count;
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
    this.emitClosed(out);
  }

  /** The watermark windows close on: the minimum over sources, idle ones left out. */
  mergedWatermark(): number {
    if (this.sources.size < this.sourcePartitions) return NO_WATERMARK; // a source not heard from yet
    let min = Number.POSITIVE_INFINITY;
    for (const progress of this.sources.values()) if (!progress.idle && progress.watermarkMs < min) min = progress.watermarkMs;
    return min;
  }

  private isReplay(source: number, paneStart: number): boolean {
    this.checkSource(source);
    // The source already said its watermark passed this pane: it sent this pane before.
    const progress = this.sources.get(source);
    return progress !== undefined && paneStart + this.spec.paneMs <= progress.watermarkMs;
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

    const paneStarts = [...new Set([...this.paneCounts.keys(), ...this.paneTotals.keys()])].sort((a, b) => a - b);

    for (const paneStart of paneStarts) {
      const urls = this.paneCounts.get(paneStart);
      if (urls === undefined || !closes(paneStart + paneMs)) continue;
      for (const url of [...urls.keys()].sort(compareText)) {
        out.counts.push({ url, windowStart: paneStart, windowEnd: paneStart + paneMs, count: sum(urls.get(url)!) });
      }
      note(paneStart + paneMs);
    }

    const totalStarts = new Set<number>();
    for (const paneStart of this.paneTotals.keys()) for (const start of totalWindowStartsOfPane(paneStart, this.spec)) totalStarts.add(start);
    for (const start of [...totalStarts].sort((a, b) => a - b)) {
      if (!closes(start + totalWindowMs)) continue;
      let count = 0;
      for (let pane = start; pane < start + totalWindowMs; pane += paneMs) {
        const perSource = this.paneTotals.get(pane);
        if (perSource !== undefined) count += sum(perSource);
      }
      out.totals.push({ windowStart: start, windowEnd: start + totalWindowMs, count });
      note(start + totalWindowMs);
    }

    const minutes = new Map<number, Map<string, number>>();
    for (const paneStart of paneStarts) {
      const urls = this.paneCounts.get(paneStart);
      const minute = alignDown(paneStart, statsWindowMs);
      if (urls === undefined || !closes(minute + statsWindowMs)) continue;
      let perUrl = minutes.get(minute);
      if (perUrl === undefined) minutes.set(minute, (perUrl = new Map()));
      for (const [url, perSource] of urls) perUrl.set(url, (perUrl.get(url) ?? 0) + sum(perSource));
    }
    for (const minute of [...minutes.keys()].sort((a, b) => a - b)) {
      const perUrl = minutes.get(minute)!;
      for (const url of [...perUrl.keys()].sort(compareText)) {
        out.stats.push({ url, windowStart: minute, windowEnd: minute + statsWindowMs, count: perUrl.get(url)! });
      }
      note(minute + statsWindowMs);
    }

    // All idle: windows closed up to the last one holding data; later panes before it are late.
    this.frontier = Number.isFinite(target) ? target : lastEnd;
    this.changes.set(FRONTIER, String(this.frontier));
    this.prune();
  }

  /** Drops panes all of whose windows have been emitted. */
  private prune(): void {
    for (const paneStart of [...new Set([...this.paneCounts.keys(), ...this.paneTotals.keys()])]) {
      if (lastEndOfPane(paneStart, this.spec) > this.frontier) continue;
      const urls = this.paneCounts.get(paneStart);
      if (urls !== undefined) {
        for (const [url, perSource] of urls) perSource.forEach((count, source) => count !== 0 && this.remove(countKey(paneStart, source, url)));
        this.paneCounts.delete(paneStart);
      }
      const totals = this.paneTotals.get(paneStart);
      if (totals !== undefined) {
        totals.forEach((count, source) => count !== 0 && this.remove(totalKey(paneStart, source)));
        this.paneTotals.delete(paneStart);
      }
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

  static restore(spec: WindowSpec, sourcePartitions: number, entries: Iterable<[string, string]>): MergeWindows {
    const merge = new MergeWindows(spec, sourcePartitions);
    for (const [key, value] of entries) {
      const parts = key.split(SEP);
      switch (parts[0]) {
        case COUNT: {
          const paneStart = Number(parts[1]);
          const source = Number(parts[2]);
          const url = parts.slice(3).join(SEP);
          let urls = merge.paneCounts.get(paneStart);
          if (urls === undefined) merge.paneCounts.set(paneStart, (urls = new Map()));
          let perSource = urls.get(url);
          if (perSource === undefined) urls.set(url, (perSource = new Array<number>(sourcePartitions).fill(0)));
          perSource[source] = Number(value);
          break;
        }
        case TOTAL: {
          const paneStart = Number(parts[1]);
          let perSource = merge.paneTotals.get(paneStart);
          if (perSource === undefined) merge.paneTotals.set(paneStart, (perSource = new Array<number>(sourcePartitions).fill(0)));
          perSource[Number(parts[2])] = Number(value);
          break;
        }
        case SOURCE: {
          const [watermarkMs, idle] = value.split(',');
          merge.sources.set(Number(parts[1]), { watermarkMs: Number(watermarkMs), idle: idle === '1' });
          break;
        }
        default:
          if (key === FRONTIER) merge.frontier = Number(value);
          else throw new Error(`unexpected merge state key ${key}`);
      }
    }
    return merge;
  }
}

function countKey(paneStart: number, source: number, url: string): string {
  return COUNT + SEP + timeKey(paneStart) + SEP + source + SEP + url;
}

function totalKey(paneStart: number, source: number): string {
  return TOTAL + SEP + timeKey(paneStart) + SEP + source;
}

function sum(values: number[]): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}
