// Named points of the checkpoint protocol where a test can kill the worker as hard as a power cut
// (SIGKILL: no finally blocks, no flush, no close), to prove that state, offsets and outputs
// agree after a crash at any of them. Inert unless CLICKSTREAM_CRASH_AT is set:
//   CLICKSTREAM_CRASH_AT=<point>[:<n>]   crash the n-th time (default 1) the point is reached
// while a checkpoint carries new input. Never set in production; read once at start.
// With CLICKSTREAM_STALL_MS=<ms> as well, the worker survives: its JS thread stops dead for that
// long at the point instead (as in a long GC pause or on a starved CPU), while librdkafka's
// threads go on, so the group can give its partitions away under it.

import { logger } from '../log.js';

/** Every point, in the order a checkpoint passes them. */
export const crashPoints = [
  // at-least-once
  'after-flush', // outputs acknowledged, state not written
  'in-changelog-transaction', // changelog records and offsets in a transaction not yet committed
  'after-changelog', // changelog transaction committed, the store not written (it is behind)
  'after-state-batch', // state and offsets in LevelDB, group offsets not committed
  'after-offset-commit', // everything done
  // exactly-once
  'eos-before-stage', // transaction open with outputs, nothing written
  'eos-after-stage', // checkpoint staged in LevelDB, transaction still open
  'eos-after-send-offsets', // offsets in the transaction, not committed
  'eos-after-commit', // transaction committed, staged checkpoint not promoted
  'eos-after-promote', // everything done
] as const;

export type CrashPoint = (typeof crashPoints)[number];

export interface CrashPlan {
  point: CrashPoint;
  nth: number;
}

/** Parses the environment's plan; a typo must not silently disable a crash test. */
export function parseCrashPlan(value: string | undefined): CrashPlan | undefined {
  if (value === undefined || value === '') return undefined;
  const [point, nthText] = value.split(':');
  if (!(crashPoints as readonly string[]).includes(point!)) {
    throw new Error(`CLICKSTREAM_CRASH_AT names an unknown point "${point}" (known: ${crashPoints.join(', ')})`);
  }
  const nth = nthText === undefined ? 1 : Number(nthText);
  if (!Number.isInteger(nth) || nth < 1) throw new Error(`CLICKSTREAM_CRASH_AT count must be a positive integer, got "${nthText}"`);
  return { point: point as CrashPoint, nth };
}

/** Parses CLICKSTREAM_STALL_MS: undefined (kill), or how long to stall. */
export function parseStallMs(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = Number(value);
  if (!Number.isSafeInteger(ms) || ms < 1 || ms > 600_000) throw new Error(`CLICKSTREAM_STALL_MS must be a whole number of milliseconds from 1 to 600000, got "${value}"`);
  return ms;
}

function killNow(point: CrashPoint, nth: number): void {
  logger('crash-points').error('crashing on purpose', { point, nth });
  process.kill(process.pid, 'SIGKILL');
}

/** Blocks the JS thread (no timer, no callback, no poll runs meanwhile). */
function stallFor(ms: number): (point: CrashPoint, nth: number) => void {
  return (point, nth) => {
    logger('crash-points').error('stalling on purpose', { point, nth, ms });
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    logger('crash-points').error('stall over', { point, nth });
  };
}

let plan = parseCrashPlan(process.env.CLICKSTREAM_CRASH_AT);
const stallMs = parseStallMs(process.env.CLICKSTREAM_STALL_MS);
let crash = stallMs === undefined ? killNow : stallFor(stallMs);
let reached = 0;

/**
 * Arms a plan in this process (unit tests: `crash` throws instead of killing, so the test can look
 * at what a crash there leaves behind). undefined disarms.
 */
export function armCrashPoint(next: CrashPlan | undefined, onCrash: (point: CrashPoint, nth: number) => void = killNow): void {
  plan = next;
  crash = onCrash;
  reached = 0;
}

/** Crashes here if the plan says so. `progressed`: the checkpoint covers new input. */
export function crashPoint(point: CrashPoint, progressed: boolean): void {
  if (plan === undefined || plan.point !== point || !progressed) return;
  // Only the n-th time: a stall lets the worker go on, and must not strike at every later checkpoint.
  if (++reached !== plan.nth) return;
  crash(point, plan.nth);
}
