// The savepoint directory: copyable, archivable, movable (no absolute paths). Layout:
//   manifest.json           format version, job configuration, per task offsets/watermark/files
//   manifest.sha256         checksum of manifest.json
//   tasks/<stage>-<p>.json  one task's state: {"nextOffset": n, "entries": [[key, value], ...]}
// A directory is written under a temporary name and renamed into place only when complete, so a
// directory with the final name is always whole; reading verifies every checksum before use.

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { shapeDifference, type JobShape, type Stage } from '../state/state-dir.js';

export const SAVEPOINT_FORMAT_VERSION = 1;

export interface TaskSnapshot {
  stage: Stage;
  partition: number;
  /** Next input offset; null if the task never read a record. */
  nextOffset: number | null;
  entries: Array<[string, string]>;
}

export interface SavepointTaskEntry {
  stage: Stage;
  partition: number;
  nextOffset: number | null;
  /** Source: the partition's watermark; merge: the watermark its windows are emitted up to. */
  watermarkMs: number | null;
  openWindowKeys: number;
  file: string;
  bytes: number;
  sha256: string;
}

export interface SavepointManifest {
  formatVersion: number;
  savepointId: string;
  createdAt: string;
  jobId: string;
  /** Where the state came from: the workers of a running job, or a stopped job's state dir. */
  takenFrom: 'running-job' | 'state-dir';
  config: JobShape & { topicPrefix: string };
  tasks: SavepointTaskEntry[];
  totalBytes: number;
}

export type TaskSummary = Pick<SavepointTaskEntry, 'watermarkMs' | 'openWindowKeys'>;

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

export function newSavepointId(): string {
  return `sp-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${randomBytes(3).toString('hex')}`;
}

/** Writes a complete savepoint to `dir` atomically (temporary directory, then rename). */
export function writeSavepoint(
  dir: string,
  header: Omit<SavepointManifest, 'tasks' | 'totalBytes' | 'formatVersion'>,
  snapshots: Array<{ snapshot: TaskSnapshot; summary: TaskSummary }>,
): SavepointManifest {
  const target = path.resolve(dir);
  if (existsSync(target)) throw new UserError('BAD_FILE', `savepoint directory ${dir} already exists; choose a new --path`);
  const temporary = `${target}.incomplete-${header.savepointId}`;
  mkdirSync(path.join(temporary, 'tasks'), { recursive: true });
  try {
    const tasks: SavepointTaskEntry[] = [];
    for (const { snapshot, summary } of [...snapshots].sort((a, b) => a.snapshot.stage.localeCompare(b.snapshot.stage) || a.snapshot.partition - b.snapshot.partition)) {
      const file = `tasks/${snapshot.stage}-${snapshot.partition}.json`;
      const body = JSON.stringify({ nextOffset: snapshot.nextOffset, entries: snapshot.entries });
      writeFileSync(path.join(temporary, file), body);
      tasks.push({ stage: snapshot.stage, partition: snapshot.partition, nextOffset: snapshot.nextOffset, ...summary, file, bytes: Buffer.byteLength(body), sha256: sha256(body) });
    }
    const manifest: SavepointManifest = { formatVersion: SAVEPOINT_FORMAT_VERSION, ...header, tasks, totalBytes: tasks.reduce((sum, t) => sum + t.bytes, 0) };
    const manifestText = JSON.stringify(manifest, null, 2) + '\n';
    writeFileSync(path.join(temporary, 'manifest.json'), manifestText);
    writeFileSync(path.join(temporary, 'manifest.sha256'), `${sha256(manifestText)}  manifest.json\n`);
    renameSync(temporary, target);
    return manifest;
  } catch (err) {
    rmSync(temporary, { recursive: true, force: true });
    throw err;
  }
}

/** Reads and verifies a savepoint: manifest checksum, format version, every task file's checksum. */
export function readSavepoint(dir: string): { manifest: SavepointManifest; load(task: SavepointTaskEntry): TaskSnapshot } {
  const refuse = (why: string): never => {
    throw new UserError('BAD_FILE', `savepoint ${dir} refused: ${why}`);
  };
  let manifestText: string;
  let checksumText: string;
  try {
    manifestText = readFileSync(path.join(dir, 'manifest.json'), 'utf8');
    checksumText = readFileSync(path.join(dir, 'manifest.sha256'), 'utf8');
  } catch (err) {
    return refuse(`cannot read its manifest (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (checksumText.split(/\s+/)[0] !== sha256(manifestText)) refuse('manifest.json does not match its checksum (corrupt or truncated copy)');
  let manifest: SavepointManifest;
  try {
    manifest = JSON.parse(manifestText) as SavepointManifest;
  } catch {
    return refuse('manifest.json is not valid JSON');
  }
  if (manifest.formatVersion !== SAVEPOINT_FORMAT_VERSION) refuse(`format version ${manifest.formatVersion} is not supported (this clickstream reads ${SAVEPOINT_FORMAT_VERSION})`);
  for (const task of manifest.tasks) {
    if (path.isAbsolute(task.file) || task.file.includes('..')) refuse(`task file ${task.file} points outside the savepoint`);
    let body: Buffer;
    try {
      body = readFileSync(path.join(dir, task.file));
    } catch {
      return refuse(`task file ${task.file} is missing`);
    }
    if (body.length !== task.bytes || sha256(body) !== task.sha256) refuse(`task file ${task.file} does not match its checksum (corrupt or truncated copy)`);
  }
  return {
    manifest,
    load: (task) => {
      const body = JSON.parse(readFileSync(path.join(dir, task.file), 'utf8')) as { nextOffset: number | null; entries: Array<[string, string]> };
      return { stage: task.stage, partition: task.partition, nextOffset: body.nextOffset, entries: body.entries };
    },
  };
}

/** The first configuration field where the savepoint and the job to restore differ. */
export function configDifference(savepoint: SavepointManifest['config'], wanted: SavepointManifest['config']): string | undefined {
  if (savepoint.topicPrefix !== wanted.topicPrefix) return `topicPrefix: "${savepoint.topicPrefix}" in the savepoint, "${wanted.topicPrefix}" now`;
  const difference = shapeDifference(savepoint, wanted);
  return difference?.replace(' in the state, ', ' in the savepoint, ');
}

export function formatManifest(manifest: SavepointManifest): string {
  const c = manifest.config;
  const lines = [
    `savepoint ${manifest.savepointId} of job ${manifest.jobId}, taken ${manifest.createdAt} from the ${manifest.takenFrom === 'running-job' ? 'running job' : 'state dir of a stopped job'}`,
    `format ${manifest.formatVersion}; ${manifest.tasks.length} tasks; ${(manifest.totalBytes / 1024).toFixed(1)} KB`,
    `config: clicks partitions ${c.clicksPartitions}, merge partitions ${c.mergePartitions}, pane ${c.paneMs} ms, total ${c.totalWindowMs}/${c.totalSlideMs} ms, stats ${c.statsWindowMs} ms, bound ${c.maxOutOfOrdernessMs} ms, topic prefix "${c.topicPrefix}"`,
    `${'task'.padEnd(10)}${'next offset'.padStart(12)}  ${'watermark'.padEnd(24)}${'open keys'.padStart(10)}${'KB'.padStart(10)}`,
    ...manifest.tasks.map((t) =>
      `${`${t.stage}-${t.partition}`.padEnd(10)}${String(t.nextOffset ?? '-').padStart(12)}  ${(t.watermarkMs !== null && Math.abs(t.watermarkMs) < 8.64e15 ? new Date(t.watermarkMs).toISOString() : '-').padEnd(24)}${String(t.openWindowKeys).padStart(10)}${(t.bytes / 1024).toFixed(1).padStart(10)}`,
    ),
  ];
  return lines.join('\n') + '\n';
}
