// What a task's persisted state holds, for a savepoint's manifest: its watermark and how many
// window keys it keeps open. Read through the topology's own restore, so it cannot drift.

import { MergeWindows } from '../topology/merge-windows.js';
import { SourcePanes } from '../topology/source-panes.js';
import { NO_WATERMARK } from '../topology/watermark.js';
import type { WindowSpec } from '../topology/windows.js';
import type { Stage } from '../state/state-dir.js';
import type { TaskSummary } from './format.js';

export function summarizeTaskState(stage: Stage, entries: Array<[string, string]>, windows: WindowSpec, boundMs: number, clicksPartitions: number): TaskSummary {
  if (stage === 'source') {
    const panes = SourcePanes.restore(windows.paneMs, boundMs, entries);
    return { watermarkMs: panes.watermarkMs === NO_WATERMARK ? null : panes.watermarkMs, openWindowKeys: panes.openKeyCount };
  }
  const merge = MergeWindows.restore(windows, clicksPartitions, entries);
  return { watermarkMs: merge.frontierMs === NO_WATERMARK ? null : merge.frontierMs, openWindowKeys: merge.openKeyCount };
}
