// A merge task's topology: applies partials from the internal topic, in log order, to its
// MergeWindows and joins the closed minute windows with the url table.

import type { PartialMessage, UrlStats } from '../codec/messages.js';
import type { UrlTable } from '../table/urls.js';
import type { CountResult, MergeOutput, MergeWindows } from './merge-windows.js';
import type { WindowSpec } from './windows.js';
import { TOTAL_OWNER } from './source-stage.js';
import type { UrlOwners } from './url-owners.js';
import { BarrierAlignment } from './barrier-alignment.js';

/** The merge partition a partial was read from, and who owns which url. */
export interface Placement {
  partition: number;
  owners: UrlOwners;
}

export class MergeStage {
  /** Stop-with-savepoint barriers read so far (in memory: a reopened task reads them again from its checkpoint). */
  readonly alignment: BarrierAlignment;

  constructor(
    readonly mergePartition: number,
    readonly windows: MergeWindows,
  ) {
    this.alignment = new BarrierAlignment(windows.sourcePartitions);
  }

  /**
   * What this task cannot take though it is well-formed (partialProblem checked the form): late
   * additions to a pane no source of the job can send (windows.takesLatePane), and the watermark
   * of a source running with another allowed lateness (skipped: its windows then stall, visibly,
   * instead of being counted under two rules).
   */
  refusal(partial: PartialMessage): string | undefined {
    if (partial.latePane != null && !this.windows.takesLatePane(partial.latePane.paneStart)) return 'late additions to a pane, but the job has no allowed lateness';
    // 0 is also what a source without one, or from before it was sent, says (proto3 default).
    const claimed = Number(partial.watermark?.allowedLatenessMs ?? 0);
    if (claimed > 0 && !this.windows.takesSourceLateness(claimed)) {
      return `a watermark of a source running with an allowed lateness of ${claimed} ms: start every worker of a job with the same --allowed-lateness`;
    }
    return undefined;
  }

  apply(partial: PartialMessage, out: MergeOutput): void {
    if (partial.barrier) {
      this.alignment.barrier(partial.barrier.savepointId, partial.barrier.sourcePartition);
      return;
    }
    this.alignment.partialFrom(sourceOf(partial)!);
    if (partial.paneCounts) {
      const { sourcePartition, paneStart, counts } = partial.paneCounts;
      for (const { url, count } of counts) this.windows.addPaneCount(sourcePartition, paneStart, url, count, out);
    } else if (partial.paneCount) {
      const p = partial.paneCount;
      this.windows.addPaneCount(p.sourcePartition, p.paneStart, p.url, p.count, out);
    } else if (partial.paneTotal) {
      const p = partial.paneTotal;
      this.windows.addPaneTotal(p.sourcePartition, p.paneStart, p.count, out);
    } else if (partial.lateTotal) {
      const p = partial.lateTotal;
      this.windows.addLateTotal(p.sourcePartition, p.windowStart, p.count, out);
    } else if (partial.lateStats) {
      const { sourcePartition, windowStart, counts } = partial.lateStats;
      for (const { url, count } of counts) this.windows.addLateStats(sourcePartition, windowStart, url, count, out);
    } else if (partial.latePane) {
      const { sourcePartition, paneStart, counts } = partial.latePane;
      for (const { url, count } of counts) this.windows.addLatePane(sourcePartition, paneStart, url, count, out);
    } else if (partial.watermark) {
      const w = partial.watermark;
      this.windows.updateSource(w.sourcePartition, w.watermarkMs, w.idle, out);
    } else {
      throw new Error('empty partial');
    }
  }
}

const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0;

/** The source partition a partial names (every kind names one; undefined if none is set). */
function sourceOf(partial: PartialMessage): number | undefined {
  const { paneCounts, paneCount, paneTotal, watermark, lateTotal, lateStats, latePane, barrier } = partial;
  return (paneCounts ?? paneCount ?? paneTotal ?? watermark ?? lateTotal ?? lateStats ?? latePane ?? barrier)?.sourcePartition ?? undefined;
}

/** Savepoint ids as the savepoint command makes them (savepoint/validate.ts checks the same alphabet). */
const SAVEPOINT_ID = /^[A-Za-z0-9._-]{1,200}$/;

/**
 * Event times a partial may name: the range clicks are admitted in (codec/click-fields.ts), with a
 * day of margin for window ends and watermarks. Kept here (topology imports nothing of codec's code).
 */
const EARLIEST_MS = 946_684_800_000 - 86_400_000;
const LATEST_MS = 4_102_444_800_000 + 86_400_000;
const inTime = (ms: number) => Number.isSafeInteger(ms) && ms >= EARLIEST_MS && ms <= LATEST_MS;

/**
 * What is wrong with a partial read from the internal topic, or undefined if a merge task may
 * apply it. The topic is written by the job's own source tasks, but anyone who can write to
 * Kafka can write there too: a record that does not fit (a source partition out of range, a pane
 * not on a pane boundary, a negative or fractional count, a url longer than clicks may carry) is
 * skipped, never applied. Pure.
 */
export function partialProblem(partial: PartialMessage, sourcePartitions: number, windows: WindowSpec, maxUrlBytes: number, placement?: Placement): string | undefined {
  // Decoded messages leave the kinds not set as null or undefined.
  const { paneCounts, paneCount, paneTotal, watermark, lateTotal, lateStats, latePane, barrier } = partial;
  const source = sourceOf(partial);
  if (source === undefined || source === null) return 'no pane counts, pane count, pane total, late additions, watermark or barrier';
  if (!Number.isInteger(source) || source < 0 || source >= sourcePartitions) return `source partition ${source} is not one of 0..${sourcePartitions - 1}`;
  if (barrier != null) return typeof barrier.savepointId === 'string' && SAVEPOINT_ID.test(barrier.savepointId) ? undefined : 'a barrier without a savepoint id';
  const { paneMs } = windows;
  const pane = paneCounts ?? paneCount ?? paneTotal ?? latePane;
  if (pane != null && (!inTime(pane.paneStart) || pane.paneStart % paneMs !== 0)) return `pane start ${pane.paneStart} is not a time of 2000-2100 on a ${paneMs} ms boundary`;
  const lateWindow = lateTotal != null ? { start: lateTotal.windowStart, slideMs: windows.totalSlideMs } : lateStats != null ? { start: lateStats.windowStart, slideMs: windows.statsWindowMs } : undefined;
  if (lateWindow !== undefined && (!inTime(lateWindow.start) || lateWindow.start % lateWindow.slideMs !== 0)) return `window start ${lateWindow.start} is not a time of 2000-2100 on a ${lateWindow.slideMs} ms boundary`;
  const urlCounts = paneCounts?.counts ?? lateStats?.counts ?? latePane?.counts;
  if (urlCounts != null) {
    // One bad entry refuses the record: a part of a pane is never applied.
    if (urlCounts.length === 0) return 'url counts without a url';
    for (const { url, count } of urlCounts) {
      const problem = urlCountProblem(url, count, maxUrlBytes);
      if (problem !== undefined) return problem;
    }
  }
  const paneCountProblem = paneCount != null ? urlCountProblem(paneCount.url, paneCount.count, maxUrlBytes) : undefined;
  if (paneCountProblem !== undefined) return paneCountProblem;
  if (paneTotal != null && !isCount(paneTotal.count)) return `count ${paneTotal.count} is not a non-negative integer`;
  // A running total of late additions is sent once it counts a click.
  const lateUrlCounts = lateStats?.counts ?? latePane?.counts;
  const lateCounts = lateTotal != null ? [lateTotal.count] : lateUrlCounts != null ? lateUrlCounts.map((c) => c.count) : [];
  for (const count of lateCounts) if (!isCount(count) || count === 0) return `count ${count} is not a positive integer`;
  // A source that has read nothing yet says so with the lowest safe integer (topology/watermark.ts).
  if (watermark != null && !inTime(watermark.watermarkMs) && watermark.watermarkMs !== Number.MIN_SAFE_INTEGER) return `watermark ${watermark.watermarkMs} is not a time`;
  // On the wrong partition, a well-formed partial would add a second total or url row to the outputs.
  if (placement !== undefined) {
    const { partition, owners } = placement;
    if ((paneTotal != null || lateTotal != null) && partition !== TOTAL_OWNER) return `a total on merge partition ${partition}, not ${TOTAL_OWNER}`;
    const urls = urlCounts?.map((c) => c.url) ?? (paneCount != null ? [paneCount.url] : []);
    for (const url of urls) if (owners.of(url) !== partition) return `a url of merge partition ${owners.of(url)} on merge partition ${partition}`;
  }
  return undefined;
}

function urlCountProblem(url: unknown, count: number, maxUrlBytes: number): string | undefined {
  if (!isCount(count)) return `count ${count} is not a non-negative integer`;
  if (typeof url !== 'string' || url === '' || Buffer.byteLength(url) > maxUrlBytes) return 'url empty or over the url limit';
  return undefined;
}

/** The 1-minute window joined with urls.csv; a url missing from the table is kept, marked unknown. */
export function joinUrlStats(stats: CountResult, table: UrlTable): UrlStats {
  const row = table.get(stats.url);
  return {
    url: stats.url,
    windowStart: stats.windowStart,
    windowEnd: stats.windowEnd,
    count: stats.count,
    title: row?.title ?? 'unknown',
    category: row?.category ?? 'unknown',
    known: row !== undefined,
    revision: stats.revision,
    final: stats.final,
  };
}
