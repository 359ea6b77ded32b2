// Per-partition pre-aggregation (the "source" stage): counts clicks per url in 5 s panes of
// event time, drops clicks whose pane has already closed on this partition (late), and hands
// over each pane once the partition's watermark passes its end. A closed pane is final: late
// clicks never change it, which is what lets the merge stage treat a replayed pane as a duplicate.

import { alignDown } from './windows.js';
import { BoundedOutOfOrderness, NO_WATERMARK } from './watermark.js';
import { SEP, timeKey, type StateChanges } from './state-keys.js';

export interface ClosedPane {
  paneStart: number;
  /** Clicks per url, urls in ascending order. */
  counts: Array<[string, number]>;
  total: number;
}

interface OpenPane {
  start: number;
  counts: Map<string, number>;
  total: number;
  /** Urls whose count changed since the last checkpoint. */
  dirty: Set<string>;
  /** Urls with a count in the store: only these need deleting when the pane closes. */
  persisted: Set<string>;
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
        pane = { start: paneStart, counts: new Map(), total: 0, dirty: new Set(), persisted: new Set() };
        this.panes.set(paneStart, pane);
      }
      this.lastPane = pane;
    }
    pane.counts.set(url, (pane.counts.get(url) ?? 0) + 1);
    pane.total++;
    pane.dirty.add(url);
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
      counts: [...pane.counts].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
      total: pane.total,
    }));
  }

  /** What changed since the last call, as store puts and deletes. */
  takeChanges(): StateChanges {
    const changes: StateChanges = new Map();
    // A pane that opened and closed between two checkpoints never reached the store: nothing to delete.
    for (const pane of this.closedSinceCheckpoint) {
      if (pane.persisted.size === 0) continue;
      const prefix = PANE + SEP + timeKey(pane.start) + SEP;
      for (const url of pane.persisted) changes.set(prefix + url, null);
    }
    this.closedSinceCheckpoint = [];
    for (const pane of this.panes.values()) {
      if (pane.dirty.size === 0) continue;
      const prefix = PANE + SEP + timeKey(pane.start) + SEP;
      for (const url of pane.dirty) {
        changes.set(prefix + url, String(pane.counts.get(url)));
        pane.persisted.add(url);
      }
      pane.dirty.clear();
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

  /** Rebuilds the state from persisted entries (as written by takeChanges). */
  static restore(paneMs: number, boundMs: number, entries: Iterable<[string, string]>): SourcePanes {
    const panes = new SourcePanes(paneMs, boundMs);
    for (const [key, value] of entries) {
      if (key === MAX_EVENT_TIME) {
        panes.watermark.maxEventTime = Number(value);
        continue;
      }
      if (key === CLOSED_UNTIL) {
        panes.closedUntil = Number(value);
        continue;
      }
      const first = key.indexOf(SEP);
      const second = key.indexOf(SEP, first + 1);
      if (key.slice(0, first) !== PANE || second < 0) throw new Error(`unexpected source state key ${key}`);
      const start = Number(key.slice(first + 1, second));
      const url = key.slice(second + 1);
      let pane = panes.panes.get(start);
      if (pane === undefined) {
        pane = { start, counts: new Map(), total: 0, dirty: new Set(), persisted: new Set() };
        panes.panes.set(start, pane);
      }
      const count = Number(value);
      pane.counts.set(url, count);
      pane.persisted.add(url);
      pane.total += count;
    }
    return panes;
  }

  /** True if nothing was ever counted (no watermark yet). */
  get empty(): boolean {
    return this.watermark.maxEventTime === NO_WATERMARK;
  }
}
