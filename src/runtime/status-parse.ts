// Statuses read back from the status topic are untrusted: anyone who can write to Kafka can write
// there, and the topic is compacted and read from its start, so one bad record would stay for
// good. A record is taken only if it has the shape a worker writes, with every string and list
// bounded; anything else is refused (and the dashboard skips it). Pure.

import type { WorkerStatus } from './status.js';

const MAX_TEXT = 512;
const MAX_TASKS = 4_096;
const MAX_CHECKPOINTS = 1_000;
const MAX_SAVEPOINTS = 100;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): v is string => typeof v === 'string' && v.length <= MAX_TEXT;
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const count = (v: unknown): v is number => num(v) && v >= 0;
const numOrNull = (v: unknown): boolean => v === null || num(v);
const list = (v: unknown, max: number): v is unknown[] => Array.isArray(v) && v.length <= max;

const metricNames = ['clicksIn', 'partialsIn', 'late', 'lateAtMerge', 'deadLettered', 'partialsOut', 'countsOut', 'totalsOut', 'statsOut'] as const;

function task(v: unknown): boolean {
  return isObject(v) && (v.stage === 'source' || v.stage === 'merge') && count(v.partition) && numOrNull(v.nextOffset) && numOrNull(v.highOffset)
    && numOrNull(v.lag) && numOrNull(v.watermarkMs) && typeof v.idle === 'boolean' && count(v.recordsIn) && num(v.recordsPerSec) && count(v.openKeys);
}

function checkpoint(v: unknown): boolean {
  return isObject(v) && num(v.id) && num(v.startedAtMs) && count(v.durationMs) && count(v.kafkaWaitMs) && count(v.bytes) && (v.status === 'completed' || v.status === 'skipped' || v.status === 'aborted')
    && (v.reason === undefined || text(v.reason)) && list(v.tasks, MAX_TASKS)
    && v.tasks.every((t) => isObject(t) && text(t.stage) && count(t.partition) && count(t.bytes) && count(t.keys) && (t.nextOffset === undefined || t.nextOffset === null || count(t.nextOffset)));
}

/** The status in `value`, or why it is not one. */
export function parseWorkerStatus(value: unknown): { status: WorkerStatus } | { problem: string } {
  if (!isObject(value)) return { problem: 'not a JSON object' };
  const v = value;
  if (!text(v.worker) || v.worker === '' || !text(v.jobId)) return { problem: 'worker or jobId missing or too long' };
  if (v.state !== 'running' && v.state !== 'stopped') return { problem: 'state is neither running nor stopped' };
  if (!num(v.startedAt) || !num(v.updatedAt) || !count(v.checkpointIntervalMs)) return { problem: 'times missing' };
  if (v.metricsUrl !== null && !text(v.metricsUrl)) return { problem: 'metricsUrl is not a short string' };
  if (!isObject(v.metrics) || !metricNames.every((name) => count((v.metrics as Json)[name]))) return { problem: 'metrics incomplete' };
  // Absent in statuses of versions before allowed lateness.
  if (v.metrics.corrections !== undefined && !count(v.metrics.corrections)) return { problem: 'metrics.corrections is not a count' };
  if (v.metrics.alignmentPauses !== undefined && !count(v.metrics.alignmentPauses)) return { problem: 'metrics.alignmentPauses is not a count' };
  if (v.metrics.readAgain !== undefined && !count(v.metrics.readAgain)) return { problem: 'metrics.readAgain is not a count' };
  if (v.allowedLatenessMs !== undefined && !count(v.allowedLatenessMs)) return { problem: 'allowedLatenessMs is not a duration' };
  if (!list(v.tasks, MAX_TASKS) || !v.tasks.every(task)) return { problem: 'tasks malformed' };
  if (!list(v.checkpoints, MAX_CHECKPOINTS) || !v.checkpoints.every(checkpoint)) return { problem: 'checkpoints malformed' };
  if (v.restoring !== undefined && (!list(v.restoring, MAX_TASKS) || !v.restoring.every((r) => isObject(r) && text(r.task) && count(r.records) && count(r.percent) && count(r.recordsPerSec)))) {
    return { problem: 'restoring malformed' };
  }
  if (v.waiting !== undefined && (!list(v.waiting, MAX_TASKS) || !v.waiting.every((w) => isObject(w) && text(w.task) && count(w.waitedMs) && text(w.reason)))) {
    return { problem: 'waiting malformed' };
  }
  if (!list(v.savepoints, MAX_SAVEPOINTS) || !v.savepoints.every((s) => isObject(s) && text(s.savepointId) && num(s.atMs) && typeof s.stop === 'boolean')) return { problem: 'savepoints malformed' };
  const metrics = v.metrics as Json;
  return { status: { ...(v as unknown as WorkerStatus), metrics: { ...(metrics as unknown as WorkerStatus['metrics']), internalSkipped: count(metrics.internalSkipped) ? metrics.internalSkipped : 0, alignmentPauses: count(metrics.alignmentPauses) ? metrics.alignmentPauses : 0, readAgain: count(metrics.readAgain) ? metrics.readAgain : 0 } } };
}
