// A merge task's topology: applies partials from the internal topic, in log order, to its
// MergeWindows and joins the closed minute windows with the url table.

import type { PartialMessage, UrlStats } from '../codec/messages.js';
import type { UrlTable } from '../table/urls.js';
import type { CountResult, MergeOutput, MergeWindows } from './merge-windows.js';

export class MergeStage {
  constructor(
    readonly mergePartition: number,
    readonly windows: MergeWindows,
  ) {}

  apply(partial: PartialMessage, out: MergeOutput): void {
    if (partial.paneCount) {
      const p = partial.paneCount;
      this.windows.addPaneCount(p.sourcePartition, p.paneStart, p.url, p.count, out);
    } else if (partial.paneTotal) {
      const p = partial.paneTotal;
      this.windows.addPaneTotal(p.sourcePartition, p.paneStart, p.count, out);
    } else if (partial.watermark) {
      const w = partial.watermark;
      this.windows.updateSource(w.sourcePartition, w.watermarkMs, w.idle, out);
    } else {
      throw new Error('empty partial');
    }
  }
}

const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0;

/**
 * What is wrong with a partial read from the internal topic, or undefined if a merge task may
 * apply it. The topic is written by the job's own source tasks, but anyone who can write to
 * Kafka can write there too: a record that does not fit (a source partition out of range, a pane
 * not on a pane boundary, a negative or fractional count, a url longer than clicks may carry) is
 * skipped, never applied. Pure.
 */
export function partialProblem(partial: PartialMessage, sourcePartitions: number, paneMs: number, maxUrlBytes: number): string | undefined {
  // Decoded messages leave the kinds not set as null or undefined.
  const { paneCount, paneTotal, watermark } = partial;
  const source = paneCount?.sourcePartition ?? paneTotal?.sourcePartition ?? watermark?.sourcePartition;
  if (source === undefined || source === null) return 'no pane count, pane total or watermark';
  if (!Number.isInteger(source) || source < 0 || source >= sourcePartitions) return `source partition ${source} is not one of 0..${sourcePartitions - 1}`;
  const pane = paneCount ?? paneTotal;
  if (pane != null) {
    if (!Number.isSafeInteger(pane.paneStart) || pane.paneStart % paneMs !== 0) return `pane start ${pane.paneStart} is not a multiple of ${paneMs} ms`;
    if (!isCount(pane.count)) return `count ${pane.count} is not a non-negative integer`;
  }
  if (paneCount != null && (typeof paneCount.url !== 'string' || paneCount.url === '' || Buffer.byteLength(paneCount.url) > maxUrlBytes)) return 'url empty or over the url limit';
  if (paneCount == null && paneTotal == null && watermark != null && !Number.isSafeInteger(watermark.watermarkMs)) return `watermark ${watermark.watermarkMs} is not a time`;
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
  };
}
