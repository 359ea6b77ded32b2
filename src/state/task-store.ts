// One task's LevelDB store. A checkpoint is one atomic write batch holding the state changes,
// the watermark-bearing metadata and the next input offset, so state and offset never disagree.
// Keys: the topology's own state keys as they are, plus `checkpoint!*` for the store's metadata.
//
// Exactly-once mode commits in two phases, because the Kafka transaction and the LevelDB batch
// cannot be one atomic write: `stage` writes the checkpoint beside the committed state under
// `pending!*` (one batch, tagged with the transaction's token), the transaction commits with the
// same token as its offsets' metadata, then `promote` applies it (one batch). A crash between the
// two leaves a pending checkpoint that `resolvePending` promotes only if the group's committed
// offset carries its token, i.e. only if Kafka holds the outputs it covers.

import { Level } from 'level';
import { rmSync } from 'node:fs';
import { checkAfterOpen, checkBeforeOpen, openFailure, readFailure } from './store-faults.js';
import { parseStamp, type CheckpointStamp } from './changelog.js';

const NEXT_OFFSET = 'checkpoint!nextOffset';
/** The checkpoint's stamp (sequence number and writer), as in the changelog's marker. */
const CHECKPOINT_STAMP = 'checkpoint!stamp';
const CHECKPOINT_META = 'checkpoint!';
const PENDING = 'pending!';
const PENDING_META = 'pending!!meta';
/** Value prefixes of staged changes: a put keeps its value after the mark, a deletion is the mark alone. */
const PUT = '+';
const DEL = '-';

interface PendingMeta {
  token: string;
  nextOffset: number | null;
  stamp?: CheckpointStamp;
}

export interface PendingCheckpoint extends PendingMeta {
  /** The staged changes, by state key (null: deletion). */
  changes: Map<string, string | null>;
}

export interface LoadedState {
  entries: Array<[string, string]>;
  nextOffset: number | undefined;
  /** The last checkpoint's stamp (sequence number, writer), when it was written with one. */
  stamp: CheckpointStamp | undefined;
}

export interface CheckpointWrite {
  /** Bytes of keys and values written. */
  bytes: number;
  keys: number;
}

/** The token of a staged checkpoint whose metadata cannot be read: matches no committed offset. */
const UNREADABLE = '\u0000unreadable';

/** A staged checkpoint's metadata, if it reads as one this store wrote. */
function parsePendingMeta(text: string): PendingMeta | undefined {
  try {
    const meta = JSON.parse(text) as PendingMeta;
    if (typeof meta.token !== 'string' || meta.token === '' || (meta.nextOffset !== null && !Number.isSafeInteger(meta.nextOffset))) return undefined;
    return meta;
  } catch {
    return undefined;
  }
}

/** A stored next offset, if it is one (an unreadable one: as if none was written). Pure. */
function parseOffset(text: string | undefined): number | undefined {
  return text !== undefined && Number.isSafeInteger(Number(text)) && Number(text) >= 0 ? Number(text) : undefined;
}

export class TaskStore {
  /** The checkpoint staged by this process and not yet promoted (saves reading it back). */
  private staged: PendingCheckpoint | undefined;

  private constructor(
    readonly location: string,
    private readonly db: Level<string, string>,
  ) {}

  static async open(location: string): Promise<TaskStore> {
    // A worker holds a store per task: LevelDB's defaults (8 MB cache, 4 MB write buffer each)
    // would cost ~100 MB for 8 tasks. Task state is small and written in batches; reads happen
    // only on restore, so a small cache loses nothing. A 1 MB write buffer (was 2 MB) measured 298
    // against 304 and 307 MB peak RSS with exactly-once (5 M realistic clicks, one sitting), at the
    // same speed: a task's checkpoint writes ~45 KB, so its memtable still takes ~20 of them.
    // Failures become one line naming the store (locked by whom, corrupt, permission denied);
    // what LevelDB would open anyway (damage, a second open here) is refused around it (store-faults.ts).
    checkBeforeOpen(location);
    const db = new Level<string, string>(location, { keyEncoding: 'utf8', valueEncoding: 'utf8', cacheSize: 1 << 20, writeBufferSize: 1 << 20 });
    try {
      await db.open();
    } catch (err) {
      throw openFailure(location, err);
    }
    try {
      checkAfterOpen(location);
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
    return new TaskStore(location, db);
  }

  /** The next offset the last checkpoint names, read alone (a task about to wait need not load its state). */
  async checkpointOffset(): Promise<number | undefined> {
    let text: string | undefined;
    try {
      text = await this.db.get(NEXT_OFFSET);
    } catch (err) {
      throw readFailure(this.location, err);
    }
    return parseOffset(text);
  }

  async load(): Promise<LoadedState> {
    const entries: Array<[string, string]> = [];
    let nextOffset: number | undefined;
    let stamp: CheckpointStamp | undefined;
    try {
      for await (const [key, value] of this.db.iterator()) {
        if (key === NEXT_OFFSET) nextOffset = parseOffset(value);
        else if (key === CHECKPOINT_STAMP) stamp = parseStamp(value); // unreadable: the changelog decides (rebuilt)
        else if (!key.startsWith(CHECKPOINT_META) && !key.startsWith(PENDING)) entries.push([key, value]);
      }
    } catch (err) {
      throw readFailure(this.location, err);
    }
    return { entries, nextOffset, stamp };
  }

  /** Phase one of an exactly-once checkpoint: the changes beside the committed state, one batch. */
  async stage(changes: Map<string, string | null>, nextOffset: number | undefined, token: string, stamp?: CheckpointStamp): Promise<CheckpointWrite> {
    const batch = this.db.batch();
    let bytes = 0;
    for (const [key, value] of changes) {
      batch.put(PENDING + key, value === null ? DEL : PUT + value);
      bytes += key.length + (value?.length ?? 0);
    }
    const meta: PendingMeta = { token, nextOffset: nextOffset ?? null, ...(stamp !== undefined ? { stamp } : {}) };
    batch.put(PENDING_META, JSON.stringify(meta));
    await batch.write();
    this.staged = { ...meta, changes };
    return { bytes, keys: changes.size };
  }

  /** The staged checkpoint a crash left behind, if any. */
  async pending(): Promise<PendingCheckpoint | undefined> {
    const metaText = await this.db.get(PENDING_META);
    if (metaText === undefined) return undefined;
    const meta = parsePendingMeta(metaText);
    // Unreadable: no token to settle it by, so it is treated as a transaction that did not commit.
    if (meta === undefined) return { token: UNREADABLE, nextOffset: null, changes: new Map() };
    const changes = new Map<string, string | null>();
    for await (const [key, value] of this.db.iterator({ gt: PENDING, lt: PENDING + '\uffff' })) {
      if (key === PENDING_META) continue;
      changes.set(key.slice(PENDING.length), value === DEL ? null : value.slice(PUT.length));
    }
    return { ...meta, changes };
  }

  /** Phase two: the staged checkpoint becomes the committed one, one batch. */
  async promote(staged?: PendingCheckpoint): Promise<void> {
    const pending = staged ?? this.staged ?? (await this.pending());
    this.staged = undefined;
    if (pending === undefined) return;
    const batch = this.db.batch();
    for (const [key, value] of pending.changes) {
      if (value === null) batch.del(key);
      else batch.put(key, value);
      batch.del(PENDING + key);
    }
    batch.del(PENDING_META);
    if (pending.nextOffset !== null) batch.put(NEXT_OFFSET, String(pending.nextOffset));
    if (pending.stamp !== undefined) batch.put(CHECKPOINT_STAMP, JSON.stringify(pending.stamp));
    await batch.write();
  }

  /** Forgets a staged checkpoint whose transaction did not commit. */
  async discardPending(): Promise<void> {
    const pending = await this.pending();
    this.staged = undefined;
    if (pending === undefined) return;
    const batch = this.db.batch();
    for (const key of pending.changes.keys()) batch.del(PENDING + key);
    batch.del(PENDING_META);
    await batch.write();
  }

  /**
   * After a crash: keeps a staged checkpoint if its transaction committed (the group's committed
   * offset metadata is its token), else drops it. Returns what happened, for the log.
   */
  async resolvePending(committedToken: () => Promise<string | undefined>): Promise<'none' | 'promoted' | 'discarded'> {
    const pending = await this.pending();
    if (pending === undefined) return 'none';
    if ((await committedToken()) === pending.token) {
      await this.promote(pending);
      return 'promoted';
    }
    await this.discardPending();
    return 'discarded';
  }

  /** Writes the state changes and the next offset in one atomic batch. */
  async checkpoint(changes: Map<string, string | null>, nextOffset: number | undefined, stamp?: CheckpointStamp): Promise<CheckpointWrite> {
    const batch = this.db.batch();
    let bytes = 0;
    for (const [key, value] of changes) {
      if (value === null) batch.del(key);
      else batch.put(key, value);
      bytes += key.length + (value?.length ?? 0);
    }
    if (nextOffset !== undefined) batch.put(NEXT_OFFSET, String(nextOffset));
    if (stamp !== undefined) batch.put(CHECKPOINT_STAMP, JSON.stringify(stamp));
    await batch.write();
    return { bytes, keys: changes.size };
  }

  /**
   * Replaces the store's contents with restored state: the entries in batches, then the stamp
   * and offset in a last batch, so that a crash midway leaves a store without a stamp (rebuilt
   * again), never one that looks complete.
   */
  static async rebuild(location: string, entries: Map<string, string>, stamp: CheckpointStamp, batchSize = 50_000): Promise<TaskStore> {
    rmSync(location, { recursive: true, force: true });
    const store = await TaskStore.open(location);
    let batch = store.db.batch();
    let size = 0;
    for (const [key, value] of entries) {
      batch.put(key, value);
      if (++size === batchSize) {
        await batch.write();
        batch = store.db.batch();
        size = 0;
      }
    }
    if (size > 0) await batch.write();
    else await batch.close();
    await store.checkpoint(new Map(), stamp.nextOffset ?? undefined, stamp);
    return store;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
