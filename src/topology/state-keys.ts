// Key encoding shared by the window operators' persisted state. Times are zero-padded so that
// LevelDB's byte order is time order, and a human reading a store sees panes in sequence.

export const SEP = '!';

export function timeKey(ms: number): string {
  return String(ms).padStart(14, '0');
}

/** FNV-1a over a text's UTF-16 code units: a hash that is the same on every run and machine. */
export function stableHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/**
 * Entries as one JSON list, or as several lists of at most `partChars` characters each when one
 * would be longer (a changelog record must stay under Kafka's record limit). An entry longer
 * than that is a part of its own.
 */
export function jsonListParts(entries: readonly unknown[], partChars: number): string[] {
  const whole = JSON.stringify(entries);
  if (whole.length <= partChars) return [whole];
  const parts: string[] = [];
  let current: string[] = [];
  let length = 2;
  for (const item of entries) {
    const entry = JSON.stringify(item);
    if (current.length > 0 && length + entry.length + 1 > partChars) {
      parts.push(`[${current.join(',')}]`);
      current = [];
      length = 2;
    }
    current.push(entry);
    length += entry.length + 1;
  }
  parts.push(`[${current.join(',')}]`);
  return parts;
}

/** A JSON list of [text, value] pairs whose values pass `isValue`, or undefined if `text` is not one. */
export function parsePairs<V>(text: string, isValue: (value: unknown) => value is V): Array<[string, V]> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  for (const pair of parsed) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || !isValue(pair[1])) return undefined;
  }
  return parsed as Array<[string, V]>;
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
