// The on-disk layout of a job's state, owned here alone:
//   <state-dir>/<job-id>/job.json               the configuration the state was built with
//   <state-dir>/<job-id>/source-<p>/            LevelDB store of the task reading clicks partition p
//   <state-dir>/<job-id>/merge-<p>/             LevelDB store of the task reading partials partition p
// job.json guards against reusing state with other window sizes, bound or partition counts.

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';

export type Stage = 'source' | 'merge';

/** What must not change while state exists: a different value makes the stored windows wrong. */
export interface JobShape {
  clicksPartitions: number;
  mergePartitions: number;
  paneMs: number;
  totalWindowMs: number;
  totalSlideMs: number;
  statsWindowMs: number;
  maxOutOfOrdernessMs: number;
  /**
   * How long windows take late clicks after their end (0: none). Fixed while state exists: a
   * restarted task replays input read since its checkpoint, and under another lateness it would
   * revise windows differently from what it already wrote. Only a restore from a stop-with-savepoint
   * (nothing written after it) may shorten it (savepoint/format.ts); it never grows: state dropped
   * at the old end + lateness cannot take the clicks a longer one would count.
   */
  allowedLatenessMs: number;
}

/** Job ids name directories and topics: letters, digits, ".", "_" and "-", never "." or "..". */
export function checkJobId(jobId: string): void {
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(jobId) || jobId === '.' || jobId === '..') {
    throw new UserError('BAD_FLAG', `job id "${jobId.slice(0, 40).replace(/[^\x20-\x7e]/g, '?')}" must be 1-200 letters, digits, ".", "_" or "-"`);
  }
}

/** The job's directory in the state dir; an id that would lead elsewhere is refused. */
export function jobDir(stateDir: string, jobId: string): string {
  checkJobId(jobId);
  return path.join(stateDir, jobId);
}

export function taskDir(stateDir: string, jobId: string, stage: Stage, partition: number): string {
  return path.join(jobDir(stateDir, jobId), `${stage}-${partition}`);
}

/** The first field where two shapes differ, as "name: stored vs wanted", or undefined if equal. */
export function shapeDifference(stored: JobShape, wanted: JobShape): string | undefined {
  for (const key of Object.keys(wanted) as Array<keyof JobShape>) {
    if (stored[key] === wanted[key]) continue;
    if (key === 'allowedLatenessMs') return `${key}: ${stored[key]} in the state, ${wanted[key]} now; change it with savepoint --stop, then restore --allowed-lateness (shorter only)`;
    return `${key}: ${stored[key]} in the state, ${wanted[key]} now`;
  }
  return undefined;
}

const shapeFields: Array<keyof JobShape> = ['clicksPartitions', 'mergePartitions', 'paneMs', 'totalWindowMs', 'totalSlideMs', 'statsWindowMs', 'maxOutOfOrdernessMs'];

/**
 * A job.json: the shape a job's state was built with. Anything else (unreadable, not JSON, fields
 * missing or not whole numbers) is one line naming the file, never its contents.
 */
export function readShape(file: string): JobShape {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError('BAD_STATE', `cannot read ${file}: ${code ?? 'not JSON'}`);
  }
  const shape = value as Record<string, unknown> | null;
  if (typeof shape !== 'object' || shape === null || !shapeFields.every((field) => Number.isSafeInteger(shape[field]) && (shape[field] as number) >= 0)) {
    throw new UserError('BAD_STATE', `${file} is not a job configuration (it needs ${shapeFields.join(', ')} as whole numbers)`);
  }
  // Written before allowed lateness existed: none.
  const lateness = shape.allowedLatenessMs ?? 0;
  if (!Number.isSafeInteger(lateness) || (lateness as number) < 0) throw new UserError('BAD_STATE', `${file} is not a job configuration (allowedLatenessMs is not a whole number)`);
  return { ...Object.fromEntries(shapeFields.map((field) => [field, shape[field]])), allowedLatenessMs: lateness } as unknown as JobShape;
}

/**
 * Records the job's shape on first use; refuses state that was built with another shape. With a
 * changelog, the allowed lateness is left to the tasks: their state records it, and the changelog
 * is what a restore resets, so a restore on one machine changes it for the state dirs of the
 * others, whose job.json it cannot reach (there the file keeps the lateness it was written with).
 * Returns the lateness job.json records: what task state from before the tasks recorded it was
 * built with.
 */
export function claimJobDir(stateDir: string, jobId: string, shape: JobShape, options: { latenessInTasks: boolean }): { recordedLatenessMs: number } {
  const dir = jobDir(stateDir, jobId);
  const file = path.join(dir, 'job.json');
  const stored = existsSync(file) ? readShape(file) : undefined;
  if (stored !== undefined) {
    const compared = options.latenessInTasks ? { ...shape, allowedLatenessMs: stored.allowedLatenessMs } : shape;
    const difference = shapeDifference(stored, compared);
    if (difference !== undefined) {
      throw new UserError('BAD_STATE', `state in ${dir} belongs to a job with another configuration (${difference}); use another --state-dir or --job-id`);
    }
    return { recordedLatenessMs: stored.allowedLatenessMs };
  }
  try {
    mkdirSync(dir, { recursive: true });
    // A temporary name of this process's own: two workers starting together on one state dir
    // both write it, and the second rename must not find the first one's file gone.
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(shape, null, 2) + '\n');
    renameSync(temporary, file);
  } catch (err) {
    throw new UserError('BAD_STATE', `cannot write state dir ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return { recordedLatenessMs: shape.allowedLatenessMs };
}
