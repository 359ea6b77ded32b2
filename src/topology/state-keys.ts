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
