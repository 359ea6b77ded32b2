// Key encoding shared by the window operators' persisted state. Times are zero-padded so that
// LevelDB's byte order is time order, and a human reading a store sees panes in sequence.

export const SEP = '!';

export function timeKey(ms: number): string {
  return String(ms).padStart(14, '0');
}

/** A change to persist at the next checkpoint: a value, or null for a deletion. */
export type StateChanges = Map<string, string | null>;

/** Called with a persisted entry that is not state of its stage, and why. */
export type BadEntry = (key: string, why: string) => void;

/** The default: such an entry is an error (a savepoint holding it is refused). */
export const throwBadEntry: BadEntry = (key, why) => {
  throw new Error(`${why}: ${key.slice(0, 80)}`);
};

/**
 * The allowed lateness a task's state was built with (both stages). It travels with the state
 * (store, changelog, savepoint): a worker started with another lateness refuses a task whose
 * state says otherwise, even one handed over from a machine whose job.json it never saw.
 */
export const LATENESS_KEY = `meta${SEP}allowedLatenessMs`;

/** The lateness a LATENESS_KEY entry holds, or undefined if it is not one. */
export function parseLateness(value: string): number | undefined {
  const ms = Number(value);
  return Number.isSafeInteger(ms) && ms >= 0 && String(ms) === value ? ms : undefined;
}

/**
 * Merge state only, written by a restore that shortens the allowed lateness: late additions to
 * panes ending by this time may still come from the sources (what they held or had in flight).
 */
export const LATE_PANES_UNTIL = `meta${SEP}latePanesUntil`;
