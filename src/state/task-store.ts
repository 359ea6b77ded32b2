// One task's LevelDB store. A checkpoint is one atomic write batch holding the state changes,
// the watermark-bearing metadata and the next input offset, so state and offset never disagree.
// Keys: the topology's own state keys as they are, plus `checkpoint!*` for the store's metadata.

import { Level } from 'level';
import { UserError } from '../errors.js';

const NEXT_OFFSET = 'checkpoint!nextOffset';
const CHECKPOINT_ID = 'checkpoint!id';
const CHECKPOINT_META = 'checkpoint!';

export interface LoadedState {
  entries: Array<[string, string]>;
  nextOffset: number | undefined;
  checkpointId: number;
}

export interface CheckpointWrite {
  /** Bytes of keys and values written. */
  bytes: number;
  keys: number;
}

export class TaskStore {
  private constructor(
    readonly location: string,
    private readonly db: Level<string, string>,
  ) {}

  static async open(location: string): Promise<TaskStore> {
    // A worker holds a store per task: LevelDB's defaults (8 MB cache, 4 MB write buffer each)
    // would cost ~100 MB for 8 tasks. Task state is small and written in batches; reads happen
    // only on restore, so a small cache loses nothing.
    const db = new Level<string, string>(location, { keyEncoding: 'utf8', valueEncoding: 'utf8', cacheSize: 1 << 20, writeBufferSize: 2 << 20 });
    try {
      await db.open();
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') {
        throw new UserError('STATE_LOCKED', `state store ${location} is in use by another process`);
      }
      throw new UserError('BAD_STATE', `cannot open state store ${location}: ${cause?.message ?? (err as Error).message}`);
    }
    return new TaskStore(location, db);
  }

  async load(): Promise<LoadedState> {
    const entries: Array<[string, string]> = [];
    let nextOffset: number | undefined;
    let checkpointId = 0;
    for await (const [key, value] of this.db.iterator()) {
      if (key === NEXT_OFFSET) nextOffset = Number(value);
      else if (key === CHECKPOINT_ID) checkpointId = Number(value);
      else if (!key.startsWith(CHECKPOINT_META)) entries.push([key, value]);
    }
    return { entries, nextOffset, checkpointId };
  }

  /** Writes the state changes and the next offset in one atomic batch. */
  async checkpoint(changes: Map<string, string | null>, nextOffset: number | undefined, checkpointId: number): Promise<CheckpointWrite> {
    const batch = this.db.batch();
    let bytes = 0;
    for (const [key, value] of changes) {
      if (value === null) batch.del(key);
      else batch.put(key, value);
      bytes += key.length + (value?.length ?? 0);
    }
    if (nextOffset !== undefined) batch.put(NEXT_OFFSET, String(nextOffset));
    batch.put(CHECKPOINT_ID, String(checkpointId));
    await batch.write();
    return { bytes, keys: changes.size };
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
