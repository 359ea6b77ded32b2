// The savepoint directory: copyable, archivable, movable (no absolute paths). Layout:
//   manifest.json           format version, job configuration, per task offsets/watermark/files
//   manifest.sha256         checksum of manifest.json
//   tasks/<stage>-<p>.json  one task's state: {"nextOffset": n, "entries": [[key, value], ...]}
// A directory is written under a temporary name and renamed into place only when complete, so a
// directory with the final name is always whole; reading verifies every checksum before use.

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { shapeDifference } from '../state/state-dir.js';
import { printable } from '../printable.js';
import { MergeWindows } from '../topology/merge-windows.js';
import { SourcePanes } from '../topology/source-panes.js';
import { LATENESS_KEY } from '../topology/state-keys.js';
import { taskFile, validateManifest, validateTaskBody } from './validate.js';
import { SAVEPOINT_FORMAT_VERSION, type SavepointManifest, type SavepointTaskEntry, type TaskSnapshot, type TaskSummary } from './manifest.js';

export { SAVEPOINT_FORMAT_VERSION, type SavepointManifest, type SavepointTaskEntry, type TaskSnapshot, type TaskSummary };

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

/**
 * Reads and verifies a savepoint before anything is touched: the manifest's checksum and every
 * field (validate.ts), and every task file: a regular file inside the directory (no link out of
 * it), of the size and checksum the manifest gives. A refusal is one line (UserError BAD_FILE)
 * that never quotes the files' contents.
 */
export function readSavepoint(dir: string): { manifest: SavepointManifest; load(task: SavepointTaskEntry): TaskSnapshot } {
  const refuse = (why: string): never => {
    throw new UserError('BAD_FILE', `savepoint ${dir} refused: ${why}`);
  };
  let manifestText: string;
  let checksumText: string;
  let root: string;
  try {
    root = realpathSync(dir);
    manifestText = readRegularFile(root, 'manifest.json', 16 * 1024 * 1024).toString('utf8');
    checksumText = readRegularFile(root, 'manifest.sha256', 4_096).toString('utf8');
  } catch (err) {
    return refuse(`cannot read its manifest (${describe(err)})`);
  }
  if (checksumText.split(/\s+/)[0] !== sha256(manifestText)) refuse('manifest.json does not match its checksum (corrupt or truncated copy)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(manifestText);
  } catch {
    return refuse('manifest.json is not valid JSON');
  }
  const checked = validateManifest(parsed);
  if ('problem' in checked) return refuse(checked.problem);
  const { manifest } = checked;
  // Every task file is read, checked and parsed before the caller touches anything.
  const snapshots = new Map<string, TaskSnapshot>();
  for (const task of manifest.tasks) {
    let body: Buffer;
    try {
      body = readRegularFile(root, taskFile(task.stage, task.partition), task.bytes);
    } catch (err) {
      return refuse(`task file ${taskFile(task.stage, task.partition)}: ${describe(err)}`);
    }
    if (body.length !== task.bytes || sha256(body) !== task.sha256) refuse(`task file ${task.file} does not match its checksum (corrupt or truncated copy)`);
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch {
      return refuse(`task file ${task.file} is not valid JSON`);
    }
    const loaded = validateTaskBody(value, task);
    if ('problem' in loaded) return refuse(loaded.problem);
    const problem = stateProblem(loaded.snapshot, manifest.config);
    if (problem !== undefined) return refuse(`task file ${task.file}: ${problem}`);
    snapshots.set(task.file, loaded.snapshot);
  }
  return { manifest, load: (task) => snapshots.get(task.file)! };
}

/** Why the error happened, in a few words (never the file's contents). */
function describe(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

/**
 * A file of the savepoint, read only if it is a regular file (not a link) that resolves inside
 * the savepoint's real directory and is no larger than `maxBytes`.
 */
function readRegularFile(root: string, name: string, maxBytes: number): Buffer {
  const file = path.join(root, name);
  const stat = lstatSync(file);
  if (stat.isSymbolicLink()) throw new Error('is a symbolic link');
  if (!stat.isFile()) throw new Error('is not a regular file');
  const real = realpathSync(file);
  if (!real.startsWith(root + path.sep)) throw new Error('resolves outside the savepoint');
  if (stat.size > maxBytes) throw new Error(`is larger (${stat.size} bytes) than the manifest says`);
  return readFileSync(real);
}

/** Whether a task's entries are state its stage can restore (the stage's own reader decides). */
function stateProblem(snapshot: TaskSnapshot, config: SavepointManifest['config']): string | undefined {
  // The configuration says which lateness may be restored (shorter only): the state must agree.
  const lateness = snapshot.entries.find(([key]) => key === LATENESS_KEY)?.[1];
  if (lateness !== undefined && lateness !== String(config.allowedLatenessMs)) return `its state was built with another allowed lateness than the manifest's ${config.allowedLatenessMs} ms`;
  try {
    const windows = { paneMs: config.paneMs, totalWindowMs: config.totalWindowMs, totalSlideMs: config.totalSlideMs, statsWindowMs: config.statsWindowMs, allowedLatenessMs: config.allowedLatenessMs };
    if (snapshot.stage === 'source') SourcePanes.restore(windows, config.maxOutOfOrdernessMs, snapshot.entries);
    else MergeWindows.restore(windows, config.clicksPartitions, snapshot.entries);
    return undefined;
  } catch {
    return `its entries are not ${snapshot.stage} task state`;
  }
}

/**
 * The first configuration field where the savepoint and the job to restore differ in a way the
 * restore cannot honour. The allowed lateness may shorten, from a stop-with-savepoint only: the
 * windows it still holds for corrections are finished at the new lateness, under new revision
 * numbers; after a running job's savepoint the job wrote on, and replaying that under another
 * lateness would give the same revision numbers other counts. It never grows: late running
 * totals dropped at the old end + lateness are gone.
 */
export function configDifference(savepoint: SavepointManifest['config'], wanted: SavepointManifest['config'], stopped: boolean): string | undefined {
  if (savepoint.topicPrefix !== wanted.topicPrefix) return `topicPrefix: "${savepoint.topicPrefix}" in the savepoint, "${wanted.topicPrefix}" now`;
  const lateness = `allowedLatenessMs: ${savepoint.allowedLatenessMs} in the savepoint, ${wanted.allowedLatenessMs} now`;
  if (wanted.allowedLatenessMs > savepoint.allowedLatenessMs) return `${lateness}; it may shorten, never grow`;
  if (wanted.allowedLatenessMs < savepoint.allowedLatenessMs && !stopped) return `${lateness}; only a savepoint taken with --stop may be restored with a shorter one`;
  const difference = shapeDifference(savepoint, { ...wanted, allowedLatenessMs: savepoint.allowedLatenessMs });
  return difference?.replace(' in the state, ', ' in the savepoint, ');
}

export function formatManifest(manifest: SavepointManifest): string {
  const c = manifest.config;
  const lines = [
    `savepoint ${manifest.savepointId} of job ${manifest.jobId}, taken ${manifest.createdAt} from the ${manifest.takenFrom === 'running-job' ? (manifest.stopped ? 'running job, which stopped with it' : 'running job') : 'state dir of a stopped job'}${manifest.aligned ? ' (aligned: no partial left unread)' : ''}`,
    `format ${manifest.formatVersion}; ${manifest.tasks.length} tasks; ${(manifest.totalBytes / 1024).toFixed(1)} KB`,
    `config: clicks partitions ${c.clicksPartitions}, merge partitions ${c.mergePartitions}, pane ${c.paneMs} ms, total ${c.totalWindowMs}/${c.totalSlideMs} ms, stats ${c.statsWindowMs} ms, bound ${c.maxOutOfOrdernessMs} ms, allowed lateness ${c.allowedLatenessMs} ms, topic prefix "${c.topicPrefix}"`,
    `${'task'.padEnd(10)}${'next offset'.padStart(12)}  ${'watermark'.padEnd(24)}${'open keys'.padStart(10)}${'KB'.padStart(10)}`,
    ...manifest.tasks.map((t) =>
      `${`${t.stage}-${t.partition}`.padEnd(10)}${String(t.nextOffset ?? '-').padStart(12)}  ${(t.watermarkMs !== null && Math.abs(t.watermarkMs) < 8.64e15 ? new Date(t.watermarkMs).toISOString() : '-').padEnd(24)}${String(t.openWindowKeys).padStart(10)}${(t.bytes / 1024).toFixed(1).padStart(10)}`,
    ),
  ];
  // The manifest is validated, but print it as untrusted text all the same.
  return lines.map(printable).join('\n') + '\n';
}
