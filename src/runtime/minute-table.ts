// Formats the closed 1-minute windows of a merge task as the small table a worker prints.

import type { UrlStats } from '../codec/messages.js';
import { printable } from '../printable.js';

/** HH:MM:SS of a time; '?' for one no Date can hold (never a throw on the hot path). */
const timeOfDay = (ms: number): string => (Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString().slice(11, 19) : '?');

export function formatMinuteTable(stats: UrlStats[], mergePartition: number, topN = 10): string {
  if (stats.length === 0) return '';
  const byWindow = new Map<number, UrlStats[]>();
  for (const row of stats) {
    let rows = byWindow.get(row.windowStart);
    if (rows === undefined) byWindow.set(row.windowStart, (rows = []));
    rows.push(row);
  }
  const blocks: string[] = [];
  for (const [start, rows] of [...byWindow].sort((a, b) => a[0] - b[0])) {
    const clicks = rows.reduce((sum, row) => sum + row.count, 0);
    const top = [...rows].sort((a, b) => b.count - a.count || (a.url < b.url ? -1 : 1)).slice(0, topN);
    const shown = top.map((row) => ({ ...row, url: printable(row.url), title: printable(row.title), category: printable(row.category) }));
    const urlWidth = Math.max(3, ...shown.map((row) => row.url.length));
    const lines = [
      `minute ${timeOfDay(start)}–${timeOfDay(rows[0]!.windowEnd)} UTC · urls of merge partition ${mergePartition}: ${rows.length} urls, ${clicks} clicks`,
      `  ${'count'.padStart(7)}  ${'url'.padEnd(urlWidth)}  title (category)`,
      ...shown.map((row) => `  ${String(row.count).padStart(7)}  ${row.url.padEnd(urlWidth)}  ${row.known ? `${row.title} (${row.category})` : '(not in urls.csv)'}`),
    ];
    if (rows.length > top.length) lines.push(`  … ${rows.length - top.length} more urls on topic url-stats`);
    blocks.push(lines.join('\n'));
  }
  return blocks.join('\n') + '\n';
}
