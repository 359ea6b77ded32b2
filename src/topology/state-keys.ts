// Key encoding shared by the window operators' persisted state. Times are zero-padded so that
// LevelDB's byte order is time order, and a human reading a store sees panes in sequence.

export const SEP = '!';

export function timeKey(ms: number): string {
  return String(ms).padStart(14, '0');
}

/** A change to persist at the next checkpoint: a value, or null for a deletion. */
export type StateChanges = Map<string, string | null>;
