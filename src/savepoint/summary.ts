// What a task's persisted state holds, for a savepoint's manifest: its watermark and how many
// window keys it keeps open. Read through the topology's own restore, so it cannot drift.

import { MergeWindows } from '../topology/merge-windows.js';
import { SourcePanes } from '../topology/source-panes.js';
import { NO_WATERMARK } from '../topology/watermark.js';
import type { WindowSpec } from '../topology/windows.js';
import type { Stage } from '../state/state-dir.js';
import type { TaskSummary } from './format.js';

/**
 * A task's state for a savepoint: its entries without any that are not state of its stage (a
 * store can hold such entries from a changelog record that was not the job's; the task drops them
 * at its next checkpoint), and their summary.
 */
export function summarizeTaskState(stage: Stage, entries: Array<[string, string]>, windows: WindowSpec, boundMs: number, clicksPartitions: number): { entries: Array<[string, string]>; summary: TaskSummary } {
  const skipped = new Set<string>();
  const skip = (key: string): void => void skipped.add(key);
  const kept = (): Array<[string, string]> => (skipped.size === 0 ? entries : entries.filter(([key]) => !skipped.has(key)));
  if (stage === 'source') {
    const panes = SourcePanes.restore(windows, boundMs, entries, skip);
    return { entries: kept(), summary: { watermarkMs: panes.watermarkMs === NO_WATERMARK ? null : panes.watermarkMs, openWindowKeys: panes.openKeyCount } };
  }
  const merge = MergeWindows.restore(windows, clicksPartitions, entries, skip);
  return { entries: kept(), summary: { watermarkMs: merge.frontierMs === NO_WATERMARK ? null : merge.frontierMs, openWindowKeys: merge.openKeyCount } };
}
