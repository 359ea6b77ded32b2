// A worker's status, published to the compacted status topic at every checkpoint (its heartbeat)
// and once more, as stopped, when it leaves. The dashboard builds the whole job's view from these,
// so it works with workers on other machines and notices one that stopped heartbeating.
// StatusReporter builds them from the worker's parts; the worker publishes them.

import type { RestoreProgress } from '../kafka/changelog-reader.js';
import { NO_WATERMARK } from '../topology/watermark.js';
import type { CheckpointReport } from './checkpoint.js';
import type { Task } from './tasks.js';
import { logger } from '../log.js';

const log = logger('worker');

export interface WorkerMetrics {
  /** Records read from clicks. */
  clicksIn: number;
  /** Records read from the partials topic. */
  partialsIn: number;
  late: number;
  lateAtMerge: number;
  deadLettered: number;
  /** Records of internal topics (partials) skipped because they do not decode or fit. */
  internalSkipped: number;
  partialsOut: number;
  countsOut: number;
  totalsOut: number;
  statsOut: number;
  /** Window results revised after their first one, not yet final (allowed lateness). */
  corrections: number;
  /** Times a source partition was paused by watermark alignment (its watermark ran ahead). */
  alignmentPauses: number;
  /** Records the client handed out again at an offset their task had read: skipped. */
  readAgain: number;
}

export function emptyMetrics(): WorkerMetrics {
  return { clicksIn: 0, partialsIn: 0, late: 0, lateAtMerge: 0, deadLettered: 0, internalSkipped: 0, partialsOut: 0, countsOut: 0, totalsOut: 0, statsOut: 0, corrections: 0, alignmentPauses: 0, readAgain: 0 };
}

export interface TaskStatus {
  stage: 'source' | 'merge';
  partition: number;
  nextOffset: number | null;
  /** End of the partition as last fetched; lag = highOffset - nextOffset. */
  highOffset: number | null;
  lag: number | null;
  /** Source: the partition's watermark; merge: the watermark its windows are emitted up to. */
  watermarkMs: number | null;
  idle: boolean;
  recordsIn: number;
  recordsPerSec: number;
  openKeys: number;
}

/** A task assigned to a worker that cannot open yet (runtime/not-ready.ts). */
export interface TaskWaiting {
  task: string;
  /** How long it has waited when the status was built (a duration: no clock of another host involved). */
  waitedMs: number;
  reason: string;
}

export interface WorkerStatus {
  worker: string;
  jobId: string;
  state: 'running' | 'stopped';
  startedAt: number;
  updatedAt: number;
  checkpointIntervalMs: number;
  /** The job's allowed lateness as this worker runs it (absent in statuses of older versions). */
  allowedLatenessMs?: number;
  metricsUrl: string | null;
  metrics: WorkerMetrics;
  tasks: TaskStatus[];
  /** Checkpoints completed (or skipped) since the previous status. */
  checkpoints: CheckpointReport[];
  /** Tasks being rebuilt from the changelog right now (absent in statuses of older versions). */
  restoring?: Array<{ task: string; records: number; percent: number; recordsPerSec: number }>;
  /** Tasks assigned here that cannot open yet, since when and why (absent in statuses of older versions). */
  waiting?: TaskWaiting[];
  /** Savepoints this worker contributed to since the previous status. */
  savepoints: Array<{ savepointId: string; atMs: number; stop: boolean }>;
}

/** What a status is built from. */
export interface StatusSource {
  worker: string;
  jobId: string;
  startedAt: number;
  checkpointIntervalMs: number;
  allowedLatenessMs: number;
  metrics: WorkerMetrics;
  tasks(): Task[];
  /** End of a task's partition as last fetched, if known. */
  highOffset(task: Task): number | null;
  /** Tasks assigned to this worker that cannot open yet. */
  waitingToOpen(): TaskWaiting[];
  metricsUrl(): string | null;
}

export class StatusReporter {
  private lastStatusAt = Date.now();
  private readonly lastRecordsIn = new Map<string, number>();
  /** Checkpoints and savepoints not yet reported in a published status. */
  private unreportedCheckpoints: CheckpointReport[] = [];
  private unreportedSavepoints: WorkerStatus['savepoints'] = [];
  /** Tasks being rebuilt from the changelog now. */
  readonly restoring = new Map<string, RestoreProgress>();

  constructor(private readonly source: StatusSource) {}

  /** A task being rebuilt from the changelog (fraction 1: done): logged, and in the next status. */
  restoreProgress(task: string, progress: RestoreProgress): void {
    log.warn(progress.fraction >= 1 ? 'restored from the changelog' : 'restoring from the changelog', {
      task, records: progress.records, percent: Math.round(progress.fraction * 100), recordsPerSec: Math.round(progress.recordsPerSec), elapsedMs: progress.elapsedMs,
    });
    if (progress.fraction >= 1) this.restoring.delete(task);
    else this.restoring.set(task, progress);
  }

  checkpointTaken(report: CheckpointReport): void {
    this.unreportedCheckpoints.push(report);
  }

  savepointContributed(entry: WorkerStatus['savepoints'][number]): void {
    this.unreportedSavepoints.push(entry);
  }

  /** The status now, without moving the per-interval rates on (for metrics scrapes). */
  peek(state: WorkerStatus['state']): WorkerStatus {
    return this.build(state, false);
  }

  /** The status to publish: rates since the last one, and what happened since. */
  take(state: WorkerStatus['state']): WorkerStatus {
    const status = this.build(state, true);
    this.unreportedCheckpoints = [];
    this.unreportedSavepoints = [];
    return status;
  }

  private build(state: WorkerStatus['state'], advance: boolean): WorkerStatus {
    const now = Date.now();
    const seconds = Math.max((now - this.lastStatusAt) / 1000, 0.001);
    const tasks: TaskStatus[] = this.source.tasks().map((task) => {
      const key = `${task.stage}-${task.partition}`;
      const recordsPerSec = (task.recordsIn - (this.lastRecordsIn.get(key) ?? task.recordsIn)) / seconds;
      if (advance) this.lastRecordsIn.set(key, task.recordsIn);
      const highOffset = this.source.highOffset(task);
      const watermarkMs = task.stage === 'source' ? task.topology.watermarkMs : task.topology.windows.frontierMs;
      return {
        stage: task.stage,
        partition: task.partition,
        nextOffset: task.nextOffset ?? null,
        highOffset,
        lag: highOffset !== null && task.nextOffset !== undefined ? Math.max(0, highOffset - task.nextOffset) : null,
        watermarkMs: watermarkMs === NO_WATERMARK || !Number.isFinite(watermarkMs) ? null : watermarkMs,
        idle: task.stage === 'source' ? task.idleness.isIdle : false,
        recordsIn: task.recordsIn,
        recordsPerSec: Math.round(recordsPerSec),
        openKeys: task.stage === 'source' ? task.topology.view.openKeys : task.topology.windows.openKeyCount,
      };
    });
    if (advance) this.lastStatusAt = now;
    return {
      worker: this.source.worker,
      jobId: this.source.jobId,
      state,
      startedAt: this.source.startedAt,
      updatedAt: now,
      checkpointIntervalMs: this.source.checkpointIntervalMs,
      allowedLatenessMs: this.source.allowedLatenessMs,
      metricsUrl: this.source.metricsUrl(),
      metrics: { ...this.source.metrics },
      tasks,
      checkpoints: this.unreportedCheckpoints,
      restoring: [...this.restoring].map(([task, p]) => ({ task, records: p.records, percent: Math.round(p.fraction * 100), recordsPerSec: Math.round(p.recordsPerSec) })),
      waiting: this.source.waitingToOpen(),
      savepoints: this.unreportedSavepoints,
    };
  }
}
