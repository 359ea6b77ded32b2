// Savepoints are untrusted input: they are copied between machines and teams, and a manifest can
// be edited together with its checksums, so checksums prove nothing about intent. Every field is
// checked here before anything is touched, and every path restore builds comes from checked
// parts: ids from a safe alphabet, stages from {source, merge}, partitions in range and each task
// exactly once, offsets whole numbers Kafka can take, task files named by their task. Pure.

import { SAVEPOINT_FORMAT_VERSION, type SavepointManifest, type SavepointTaskEntry, type TaskSnapshot } from './manifest.js';

/** Ids that become parts of paths (savepoint ids, job ids): no separators, no dot-only names. */
const SAFE_ID = /^[A-Za-z0-9._-]{1,200}$/;
export function safeId(value: unknown): value is string {
  return typeof value === 'string' && SAFE_ID.test(value) && value !== '.' && value !== '..';
}

/** The largest offset a task may resume at: a whole number JavaScript and Kafka both hold exactly. */
const MAX_OFFSET = Number.MAX_SAFE_INTEGER;
/** Partition counts beyond this are not a configuration but a typo or an attack. */
const MAX_PARTITIONS = 10_000;
/** A task file larger than this is refused before it is read. */
export const MAX_TASK_FILE_BYTES = 2 ** 31;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const wholeIn = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;
const shortText = (v: unknown, max = 200): v is string => typeof v === 'string' && v.length <= max && !/[\u0000-\u001f\u007f-\u009f]/.test(v);

/** The file a task's state must be in: named by its task, never by the manifest's say-so. */
export function taskFile(stage: string, partition: number): string {
  return `tasks/${stage}-${partition}.json`;
}

/** The manifest in `value` if every field is what a savepoint writes, else the first problem. */
export function validateManifest(value: unknown): { manifest: SavepointManifest } | { problem: string } {
  if (!isObject(value)) return { problem: 'manifest.json is not a JSON object' };
  const m = value;
  if (m.formatVersion !== SAVEPOINT_FORMAT_VERSION) return { problem: `format version ${String(m.formatVersion).slice(0, 20)} is not supported (this clickstream reads ${SAVEPOINT_FORMAT_VERSION})` };
  if (!safeId(m.savepointId)) return { problem: 'savepointId is not made of letters, digits, ".", "_" and "-"' };
  if (!safeId(m.jobId)) return { problem: 'jobId is not made of letters, digits, ".", "_" and "-"' };
  if (!shortText(m.createdAt, 64)) return { problem: 'createdAt is not a short timestamp' };
  if (m.takenFrom !== 'running-job' && m.takenFrom !== 'state-dir') return { problem: 'takenFrom is neither running-job nor state-dir' };
  if (m.stopped !== undefined && typeof m.stopped !== 'boolean') return { problem: 'stopped is not true or false' };
  if (m.aligned !== undefined && typeof m.aligned !== 'boolean') return { problem: 'aligned is not true or false' };
  if (!isObject(m.config)) return { problem: 'config is missing' };
  const c = m.config;
  for (const field of ['clicksPartitions', 'mergePartitions'] as const) {
    if (!wholeIn(c[field], 1, MAX_PARTITIONS)) return { problem: `config.${field} is not a whole number from 1 to ${MAX_PARTITIONS}` };
  }
  for (const field of ['paneMs', 'totalWindowMs', 'totalSlideMs', 'statsWindowMs'] as const) {
    if (!wholeIn(c[field], 1, 86_400_000)) return { problem: `config.${field} is not a window size in ms` };
  }
  if (!wholeIn(c.maxOutOfOrdernessMs, 0, 86_400_000)) return { problem: 'config.maxOutOfOrdernessMs is not a bound in ms' };
  // Savepoints taken before allowed lateness existed have none.
  if (c.allowedLatenessMs === undefined) c.allowedLatenessMs = 0;
  if (!wholeIn(c.allowedLatenessMs, 0, 86_400_000)) return { problem: 'config.allowedLatenessMs is not a duration in ms' };
  if (!shortText(c.topicPrefix) || (c.topicPrefix !== '' && !/^[A-Za-z0-9._-]+$/.test(c.topicPrefix))) return { problem: 'config.topicPrefix is not a topic name prefix' };
  const counts = { source: c.clicksPartitions as number, merge: c.mergePartitions as number };
  if (!Array.isArray(m.tasks)) return { problem: 'tasks is not a list' };
  if (m.tasks.length !== counts.source + counts.merge) return { problem: `${m.tasks.length} tasks listed, the configuration has ${counts.source + counts.merge}` };
  const seen = new Set<string>();
  let total = 0;
  for (const [i, t] of m.tasks.entries()) {
    if (!isObject(t)) return { problem: `task ${i} is not an object` };
    if (t.stage !== 'source' && t.stage !== 'merge') return { problem: `task ${i}: stage is neither source nor merge` };
    if (!wholeIn(t.partition, 0, counts[t.stage] - 1)) return { problem: `task ${i}: partition is not one of 0..${counts[t.stage] - 1}` };
    const name = `${t.stage}-${t.partition}`;
    if (seen.has(name)) return { problem: `task ${name} is listed twice` };
    seen.add(name);
    if (t.nextOffset !== null && !wholeIn(t.nextOffset, 0, MAX_OFFSET)) return { problem: `task ${name}: nextOffset is not a whole number from 0 to 2^53-1` };
    if (t.watermarkMs !== null && !wholeIn(t.watermarkMs, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)) return { problem: `task ${name}: watermarkMs is not a time` };
    if (!wholeIn(t.openWindowKeys, 0, MAX_OFFSET)) return { problem: `task ${name}: openWindowKeys is not a count` };
    if (t.file !== taskFile(t.stage, t.partition)) return { problem: `task ${name}: its file must be ${taskFile(t.stage, t.partition)}` };
    if (!wholeIn(t.bytes, 0, MAX_TASK_FILE_BYTES)) return { problem: `task ${name}: bytes is not a size up to ${MAX_TASK_FILE_BYTES}` };
    if (typeof t.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(t.sha256)) return { problem: `task ${name}: sha256 is not a checksum` };
    total += t.bytes;
  }
  if (m.totalBytes !== total) return { problem: 'totalBytes is not the sum of the task files' };
  return { manifest: value as unknown as SavepointManifest };
}

/** A task file's contents if they are what the manifest says, else the problem. */
export function validateTaskBody(value: unknown, task: SavepointTaskEntry): { snapshot: TaskSnapshot } | { problem: string } {
  const name = `${task.stage}-${task.partition}`;
  if (!isObject(value)) return { problem: `task file of ${name} is not a JSON object` };
  if (value.nextOffset !== task.nextOffset) return { problem: `task file of ${name}: nextOffset differs from the manifest's` };
  if (!Array.isArray(value.entries)) return { problem: `task file of ${name}: entries is not a list` };
  for (const entry of value.entries) {
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string' || typeof entry[1] !== 'string') return { problem: `task file of ${name}: an entry is not a [key, value] pair of strings` };
  }
  return { snapshot: { stage: task.stage, partition: task.partition, nextOffset: task.nextOffset, entries: value.entries as Array<[string, string]> } };
}
