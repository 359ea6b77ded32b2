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
