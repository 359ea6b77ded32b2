// Changelog topics: every task's state changes, written at each checkpoint to a compacted topic
// (one partition per task: `clickstream-changelog-source` for source tasks, `-merge` for merge
// tasks), so a task can move to a worker on another machine, which rebuilds its store from them.
//
// A checkpoint writes, in one Kafka transaction, the task's changed keys (a deletion is a
// tombstone) and then a marker record: the task's checkpoint sequence number, the next input
// offset, and who wrote it. Every record carries the sequence number in a header. Because the
// records of a checkpoint commit together, a read_committed reader sees whole checkpoints only,
// and log compaction (which drops aborted records) never mixes two checkpoints of a key.
//
// Which copy wins when a task opens (`chooseSource`): the changelog is what every machine sees,
// so it is the reference. A local store whose stamp (sequence number and writer) equals the
// changelog's last marker is used as it is; one that is missing, behind, ahead or from another
// history (another writer at that number) is rebuilt from the changelog. Only when the changelog
// holds nothing (a job started without it) does a local store seed it.

/**
 * Key of the marker record; never a state key (those start with a letter). Printable on purpose:
 * the client library passes string keys as C strings, so a NUL byte would cut the key short.
 */
export const MARKER_KEY = '!checkpoint';
export const SEQ_HEADER = 'checkpoint-seq';

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

export interface ChangelogRecord {
  key: string;
  value: Buffer | null;
  headers: Array<Record<string, string>>;
}

/** The records of one task's checkpoint: its changes, then the marker. Pure. */
export function checkpointRecords(changes: Map<string, string | null>, stamp: CheckpointStamp): ChangelogRecord[] {
  const headers = [{ [SEQ_HEADER]: String(stamp.seq) }];
  const records: ChangelogRecord[] = [];
  for (const [key, value] of changes) records.push({ key, value: value === null ? null : Buffer.from(value), headers });
  records.push({ key: MARKER_KEY, value: Buffer.from(JSON.stringify(stamp)), headers });
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

  apply(key: string, value: Buffer | null | undefined): void {
    this.records++;
    if (key === MARKER_KEY) {
      if (value == null) return; // a marker is never deleted; ignore a stray tombstone
      for (const [k, v] of this.tail) {
        if (v === null) this.state.delete(k);
        else this.state.set(k, v);
      }
      this.tail = new Map();
      this.marker = JSON.parse(value.toString()) as CheckpointStamp;
      return;
    }
    this.tail.set(key, value == null ? null : value.toString());
  }

  /** The state at the last marker. */
  entries(): Map<string, string> {
    return this.state;
  }
}
