// A worker's status, published to the compacted status topic at every checkpoint (its heartbeat)
// and once more, as stopped, when it leaves. The dashboard builds the whole job's view from these,
// so it works with workers on other machines and notices one that stopped heartbeating.

import type { CheckpointRecord } from './checkpointer.js';
import type { WorkerMetrics } from './worker.js';

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

export interface WorkerStatus {
  worker: string;
  jobId: string;
  state: 'running' | 'stopped';
  startedAt: number;
  updatedAt: number;
  checkpointIntervalMs: number;
  metricsUrl: string | null;
  metrics: WorkerMetrics;
  tasks: TaskStatus[];
  /** Checkpoints completed (or skipped) since the previous status. */
  checkpoints: CheckpointRecord[];
  /** Tasks being rebuilt from the changelog right now (absent in statuses of older versions). */
  restoring?: Array<{ task: string; records: number; percent: number; recordsPerSec: number }>;
  /** Savepoints this worker contributed to since the previous status. */
  savepoints: Array<{ savepointId: string; atMs: number; stop: boolean }>;
}
