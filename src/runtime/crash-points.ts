// Named points of the checkpoint protocol where a test can kill the worker as hard as a power cut
// (SIGKILL: no finally blocks, no flush, no close), to prove that state, offsets and outputs
// agree after a crash at any of them. Inert unless CLICKSTREAM_CRASH_AT is set:
//   CLICKSTREAM_CRASH_AT=<point>[:<n>]   crash the n-th time (default 1) the point is reached
// while a checkpoint carries new input. Never set in production; read once at start.

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

function killNow(point: CrashPoint, nth: number): void {
  logger('crash-points').error('crashing on purpose', { point, nth });
  process.kill(process.pid, 'SIGKILL');
}

let plan = parseCrashPlan(process.env.CLICKSTREAM_CRASH_AT);
let crash = killNow;
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
  if (++reached < plan.nth) return;
  crash(point, plan.nth);
}
