// Changelog topics: every task's state changes, written at each checkpoint to a compacted topic
// (one partition per task: `clickstream-changelog-source` for source tasks, `-merge` for merge
// tasks), so a task can move to a worker on another machine, which rebuilds its store from them.
//
// A checkpoint writes, in one Kafka transaction, the task's changed keys (a deletion is a
// tombstone), then a marker record: the task's checkpoint sequence number, the next input
// offset, and who wrote it; and the same transaction commits that input offset to the consumer
// group. (Records carry no headers: a header cost the client thread ~1 µs per record, and only
// the marker's sequence number is ever read, from its value.) Because the records of a
// checkpoint commit together, a read_committed reader sees whole checkpoints only, and log
// compaction (which drops aborted records) never mixes two checkpoints of a key.
//
// Which copy wins when a task opens (`chooseSource`): the changelog is what every machine sees,
// so it is the reference. A local store whose stamp (sequence number and writer) equals the
// changelog's last marker is used as it is; one that is missing, behind, ahead or from another
// history (another writer at that number) is rebuilt from the changelog. Only when the changelog
// holds nothing (a job started without it) does a local store seed it.
//
// THE INVARIANT THAT MAKES A MOVED TASK EXACT (both stages, both delivery modes). A task's state
// after opening is the changelog's state as of its last marker, and it resumes reading its input
// (a `clicks` partition for a source task, a partials partition for a merge task) at that
// marker's `nextOffset` (`resumePoint`). Nothing between that offset and the restored state can
// be lost or counted twice, whichever worker committed last, because:
//   1. a marker and the state changes before it are one transaction, so the state as of a
//      marker is exactly the fold of every input record before its `nextOffset` (the changes
//      are deltas against the previous marker, written by the owner that restored or wrote it);
//   2. the group's committed offset is committed in that same transaction, so a committed
//      offset never runs ahead of the changelog: a checkpoint whose changelog write fails moves
//      neither the group nor the store (runtime/at-least-once.ts);
//   3. an opener first reads the group's committed offset as stable (read_committed waits for a
//      previous owner's open transaction to end), then waits until the changelog's last marker
//      shows that offset (`markerMatches`): no checkpoint of a previous owner can become
//      visible after the read, which would leave a delta resting on a state it was not made from;
//   4. a previous owner that lost the partition cannot commit another checkpoint of it: its
//      transaction carries the generation of the group member that owned the partition (a
//      worker is one member per stage, kafka/stage-consumers.ts), which the group coordinator
//      refuses once the partition was reassigned, so the transaction aborts and its records
//      stay invisible.
// Without any marker (a job that ran without the changelog), a task resumes at the group's
// committed offset with what its local store holds, and says so when that store is empty.

/**
 * Key of the marker record; never a state key (those start with a letter). Printable on purpose:
 * the client library passes string keys as C strings, so a NUL byte would cut the key short.
 */
export const MARKER_KEY = '!checkpoint';
/** Key prefixes a task store keeps for itself (state/task-store.ts): never state from a changelog. */
export const RESERVED_PREFIXES = ['checkpoint!', 'pending!'] as const;

/** Which checkpoint a store or a changelog is at. */
export interface CheckpointStamp {
  /** The task's checkpoint sequence number: +1 per checkpoint, whoever owns the task. */
  seq: number;
  /** Who wrote that checkpoint (worker instance, or savepoint id): tells two histories apart. */
  writer: string;
  nextOffset: number | null;
}

export type StoreSource =
  | { use: 'local' } // the store is the changelog's last checkpoint
  | { use: 'changelog'; reason: 'missing' | 'behind' | 'ahead' | 'diverged' } // rebuild it
  | { use: 'seed' } // empty changelog: write the local state into it
  | { use: 'fresh' }; // nothing anywhere

/** Decides where a task's state comes from (see the header). Pure. */
export function chooseSource(local: CheckpointStamp | undefined, localHasState: boolean, changelog: CheckpointStamp | undefined): StoreSource {
  if (changelog === undefined) return localHasState || local !== undefined ? { use: 'seed' } : { use: 'fresh' };
  if (local === undefined) return { use: 'changelog', reason: 'missing' };
  if (local.seq < changelog.seq) return { use: 'changelog', reason: 'behind' };
  if (local.seq > changelog.seq) return { use: 'changelog', reason: 'ahead' };
  if (local.writer !== changelog.writer || local.nextOffset !== changelog.nextOffset) return { use: 'changelog', reason: 'diverged' };
  return { use: 'local' };
}

/**
 * Whether the changelog's last marker shows the checkpoint the group's committed offset names:
 * both come from one transaction, so until they agree that transaction's markers are still
 * being written (or, without a marker, the job ran without the changelog). Pure.
 */
export function markerMatches(marker: CheckpointStamp | undefined, committedOffset: number | undefined): boolean {
  return committedOffset === undefined || marker?.nextOffset === committedOffset;
}

/** Where a task resumes reading its input partition. */
export type ResumePoint =
  | { from: 'checkpoint'; offset: number } // the restored state covers every record before it
  | { from: 'group'; offset: number } // no checkpoint of the task anywhere, the group has one
  | { from: 'earliest' }; // a task that never read a record

/**
 * The resume decision (see the header): the offset of the checkpoint the task's state was
 * restored from, whatever the group's committed offset says; the group's only for a task that
 * has no checkpoint at all. Pure.
 */
export function resumePoint(checkpointOffset: number | undefined, committedOffset: number | undefined): ResumePoint {
  if (checkpointOffset !== undefined) return { from: 'checkpoint', offset: checkpointOffset };
  if (committedOffset !== undefined) return { from: 'group', offset: committedOffset };
  return { from: 'earliest' };
}

/** A marker's stamp, if the text is one the job writes. Pure. */
export function parseStamp(text: string): CheckpointStamp | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { seq, writer, nextOffset } = v as Record<string, unknown>;
  if (!Number.isSafeInteger(seq) || (seq as number) < 0 || typeof writer !== 'string' || writer.length > 512) return undefined;
  if (nextOffset !== null && (!Number.isSafeInteger(nextOffset) || (nextOffset as number) < 0)) return undefined;
  return { seq: seq as number, writer, nextOffset: nextOffset as number | null };
}

export interface ChangelogRecord {
  key: string;
  value: Buffer | null;
}

/** The records of one task's checkpoint: its changes, then the marker. Pure. */
export function checkpointRecords(changes: Map<string, string | null>, stamp: CheckpointStamp): ChangelogRecord[] {
  const records: ChangelogRecord[] = [];
  for (const [key, value] of changes) records.push({ key, value: value === null ? null : Buffer.from(value) });
  records.push({ key: MARKER_KEY, value: Buffer.from(JSON.stringify(stamp)) });
  return records;
}

/**
 * Folds changelog records (in offset order) into the state as of the last marker. Changes after
 * the last marker belong to no complete checkpoint and are left out. Pure.
 */
export class ChangelogFold {
  private readonly state = new Map<string, string>();
  private tail = new Map<string, string | null>();
  marker: CheckpointStamp | undefined;
  records = 0;
  /** Records that were not the job's (a marker it did not write, a store key): skipped. */
  skipped = 0;

  apply(key: string, value: Buffer | null | undefined): void {
    this.records++;
    if (key === MARKER_KEY) {
      if (value == null) return; // a marker is never deleted; ignore a stray tombstone
      const stamp = parseStamp(value.toString());
      if (stamp === undefined) {
        // Not a marker the job wrote: it closes no checkpoint.
        this.skipped++;
        return;
      }
      for (const [k, v] of this.tail) {
        if (v === null) this.state.delete(k);
        else this.state.set(k, v);
      }
      this.tail = new Map();
      this.marker = stamp;
      return;
    }
    // The store's own keys (its checkpoint metadata, a staged checkpoint) are never task state:
    // a record naming one is not the job's.
    if (RESERVED_PREFIXES.some((prefix) => key.startsWith(prefix))) {
      this.skipped++;
      return;
    }
    this.tail.set(key, value == null ? null : value.toString());
  }

  /** The state at the last marker. */
  entries(): Map<string, string> {
    return this.state;
  }
}
