// How a task's state changes become changelog records. The store keeps one entry per key, and
// so did the changelog, until the merge stage's per-url rows (a 5 s count, a minute, late
// additions, a revision: `kind!<time>!<url>`) made it the largest of the job's internal writes:
// every checkpoint wrote a record per live row and a tombstone per finished one, thousands per
// checkpoint, each of which the broker validates, appends and indexes.
//
// Packed layout (PACKED_LAYOUT). A packable row lives in a bucket chosen by a hash of its member
// (the url) within its group (`kind!<time>`); a bucket is one record, `~<group>!<bb>!<part>` ->
// JSON [[member, value], ...], holding the bucket's whole content, so log compaction keeps what a
// reader needs: the last record per key. A checkpoint rewrites only the buckets its changes
// touch; an emptied bucket becomes a tombstone. A bucket too big for one record is split into
// parts (members sorted, so the same content always splits alike), and parts a smaller bucket no
// longer needs become tombstones. Keys that are not rows (watermarks, the frontier, totals) stay
// one record each.
//
// Older changelogs hold those rows one record per key. A task whose last checkpoint stamp does not
// name this layout may have such records: its first changelog write also deletes every row's own
// record (a tombstone per row it opened with) and writes each of their buckets, in the same
// transaction, so a reader never sees a row twice. The changelog is otherwise read as before
// (state/changelog.ts's ChangelogFold expands buckets back into rows): the store, savepoints and
// rescaling see rows, never buckets. Pure.

import { MERGE_ROW_KINDS } from '../topology/merge-windows.js';
import { SEP, jsonListParts, parsePairs, stableHash } from '../topology/state-keys.js';
import type { ChangelogRecord } from './changelog.js';

/** The stamp's `layout` once a task's changelog packs its rows (absent: one record per key). */
export const PACKED_LAYOUT = 2;
/** First character of a bucket's record key: no state key starts with it. */
export const BUCKET_PREFIX = '~';
const BUCKETS = 16;
/** A part's JSON length: 3 bytes per UTF-16 unit at worst keeps a record far below 1 MB. */
const PART_CHARS = Math.floor((256 * 1024) / 3);

/** The group and member of a packable state key, or undefined for a key written on its own. */
export type Packing = (key: string) => { group: string; member: string } | undefined;

/** Packs `kind!<time>!<member>` keys whose kind is one of `kinds` (the member may hold SEP). */
export function rowPacking(kinds: ReadonlySet<string>): Packing {
  return (key) => {
    const first = key.indexOf(SEP);
    if (first < 0 || !kinds.has(key.slice(0, first))) return undefined;
    const second = key.indexOf(SEP, first + 1);
    if (second < 0) return undefined;
    return { group: key.slice(0, second), member: key.slice(second + 1) };
  };
}

const MERGE_ROWS = rowPacking(MERGE_ROW_KINDS);

/** What a stage's changelog packs: the merge stage's per-url rows (a source task's panes are buckets already). */
export function stagePacking(stage: 'source' | 'merge'): Packing | undefined {
  return stage === 'merge' ? MERGE_ROWS : undefined;
}

/** The bucket of a member within its group: the same on every run and machine. */
function bucketOf(member: string): string {
  return String(stableHash(member) % BUCKETS).padStart(2, '0');
}

function partKey(bucket: string, part: number): string {
  return `${BUCKET_PREFIX}${bucket}${SEP}${part}`;
}

const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** A bucket's records: its rows sorted by member (the same content always splits alike), as few JSON lists as fit PART_CHARS each. */
export function bucketParts(rows: ReadonlyMap<string, string>): string[] {
  if (rows.size === 0) return [];
  return jsonListParts([...rows.keys()].sort(compareText).map((member) => [member, rows.get(member)]), PART_CHARS);
}

/**
 * A bucket record's rows as state entries, or undefined if the record is not one the job writes
 * (key or value malformed: anyone who can write to Kafka can write to a changelog).
 */
export function unpackBucket(recordKey: string, value: string): Array<[string, string]> | undefined {
  const partAt = recordKey.lastIndexOf(SEP);
  const bucketAt = recordKey.lastIndexOf(SEP, partAt - 1);
  if (!recordKey.startsWith(BUCKET_PREFIX) || bucketAt <= 1 || !/^\d{2}$/.test(recordKey.slice(bucketAt + 1, partAt)) || !/^\d{1,7}$/.test(recordKey.slice(partAt + 1))) return undefined;
  const group = recordKey.slice(BUCKET_PREFIX.length, bucketAt);
  return parsePairs(value, (text): text is string => typeof text === 'string')?.map(([member, rowValue]) => [group + SEP + member, rowValue]);
}

/** The records of one checkpoint, and what to call once the transaction holding them committed. */
export interface LaidOutCheckpoint {
  records: ChangelogRecord[];
  committed(): void;
}

/**
 * One task's changelog layout: what its changelog holds of each bucket (as of the last committed
 * checkpoint), so that a checkpoint can rewrite a bucket whole from the changes to a few rows.
 */
export class ChangelogLayout {
  /** Bucket (`<group>!<bb>`) -> member -> value, as the changelog's last checkpoint holds them. */
  private readonly buckets = new Map<string, Map<string, string>>();
  /** Bucket -> how many parts the changelog holds of it (computed when first needed). */
  private readonly partCounts = new Map<string, number>();
  /** Rows the changelog may still hold as records of their own (an older layout): deleted at the first write. */
  private legacyKeys: string[];

  constructor(
    private readonly packing: Packing | undefined,
    /** The task's state as of its last checkpoint (what its changelog holds). */
    entries: Iterable<readonly [string, string]>,
    /** The layout the last checkpoint's stamp names. */
    layout: number | undefined,
  ) {
    this.legacyKeys = [];
    if (packing === undefined) return;
    for (const [key, value] of entries) {
      const row = packing(key);
      if (row === undefined) continue;
      this.rowsOf(this.buckets, row.group + SEP + bucketOf(row.member)).set(row.member, value);
      if (layout !== PACKED_LAYOUT) this.legacyKeys.push(key);
    }
  }

  /** How many parts of `bucket` the changelog holds: the same content always splits alike. */
  private partsHeld(bucket: string): number {
    let parts = this.partCounts.get(bucket);
    if (parts === undefined) {
      const rows = this.buckets.get(bucket);
      parts = rows === undefined ? 0 : bucketParts(rows).length;
      this.partCounts.set(bucket, parts);
    }
    return parts;
  }

  private rowsOf(buckets: Map<string, Map<string, string>>, bucket: string): Map<string, string> {
    let rows = buckets.get(bucket);
    if (rows === undefined) buckets.set(bucket, (rows = new Map()));
    return rows;
  }

  /**
   * The records of a checkpoint holding `changes` (every change since the last committed one;
   * a deletion is null), before the marker. Nothing is remembered until `committed()`: a
   * checkpoint that does not commit is retried with its changes and the next ones together.
   */
  layOut(changes: ReadonlyMap<string, string | null>, headers: ChangelogRecord['headers']): LaidOutCheckpoint {
    const records: ChangelogRecord[] = [];
    const packing = this.packing;
    if (packing === undefined) {
      for (const [key, value] of changes) records.push({ key, value: value === null ? null : Buffer.from(value), headers });
      return { records, committed: () => undefined };
    }
    const partCounts = new Map<string, number>();
    /** Buckets this checkpoint rewrites: their rows after it. */
    const touched = new Map<string, Map<string, string>>();
    const touch = (bucket: string): Map<string, string> => {
      let rows = touched.get(bucket);
      if (rows === undefined) touched.set(bucket, (rows = new Map(this.buckets.get(bucket))));
      return rows;
    };
    for (const key of this.legacyKeys) {
      const row = packing(key)!;
      touch(row.group + SEP + bucketOf(row.member));
      records.push({ key, value: null, headers });
    }
    for (const [key, value] of changes) {
      const row = packing(key);
      if (row === undefined) {
        records.push({ key, value: value === null ? null : Buffer.from(value), headers });
        continue;
      }
      const rows = touch(row.group + SEP + bucketOf(row.member));
      if (value === null) rows.delete(row.member);
      else rows.set(row.member, value);
    }
    for (const [bucket, rows] of touched) {
      const parts = bucketParts(rows);
      parts.forEach((part, index) => records.push({ key: partKey(bucket, index), value: Buffer.from(part), headers }));
      for (let stale = parts.length; stale < this.partsHeld(bucket); stale++) records.push({ key: partKey(bucket, stale), value: null, headers });
      partCounts.set(bucket, parts.length);
    }
    return {
      records,
      committed: () => {
        for (const [bucket, rows] of touched) {
          if (rows.size === 0) {
            this.buckets.delete(bucket);
            this.partCounts.delete(bucket);
          } else {
            this.buckets.set(bucket, rows);
            this.partCounts.set(bucket, partCounts.get(bucket)!);
          }
        }
        this.legacyKeys = [];
      },
    };
  }
}
