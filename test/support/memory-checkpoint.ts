// In-memory stand-ins for what a checkpoint touches, for unit tests of the delivery modes' commit
// paths without a broker or LevelDB: a task store with TaskStore's two-phase semantics (stage,
// promote, resolve after a crash), a task whose topology hands out changes, and a Kafka that
// holds the group's committed offsets and the changelog, with transactions that are visible only
// once committed (what read_committed readers see).

import type { CheckpointedTask } from '../../src/runtime/checkpoint.js';
import type { ChangelogBatch } from '../../src/kafka/changelog-writer.js';
import type { CommitOutcome, OffsetWithMetadata } from '../../src/kafka/transactions.js';
import { ChangelogFold, type CheckpointStamp } from '../../src/state/changelog.js';

export type Changes = Map<string, string | null>;

interface Staged {
  changes: Changes;
  nextOffset: number | undefined;
  token: string;
  stamp: CheckpointStamp | undefined;
}

/** TaskStore's semantics in memory: a committed checkpoint, and at most one staged beside it. */
export class MemoryStore {
  readonly location: string;
  state = new Map<string, string>();
  nextOffset: number | undefined;
  stamp: CheckpointStamp | undefined;
  staged: Staged | undefined;
  writes = 0;

  constructor(name: string) {
    this.location = `memory:${name}`;
  }

  private apply(changes: Changes, nextOffset: number | undefined, stamp: CheckpointStamp | undefined): void {
    for (const [key, value] of changes) {
      if (value === null) this.state.delete(key);
      else this.state.set(key, value);
    }
    if (nextOffset !== undefined) this.nextOffset = nextOffset;
    if (stamp !== undefined) this.stamp = stamp;
  }

  async checkpoint(changes: Changes, nextOffset: number | undefined, stamp?: CheckpointStamp) {
    this.writes++;
    this.apply(changes, nextOffset, stamp);
    return { bytes: 0, keys: changes.size };
  }

  async stage(changes: Changes, nextOffset: number | undefined, token: string, stamp?: CheckpointStamp) {
    this.staged = { changes: new Map(changes), nextOffset, token, stamp };
    return { bytes: 0, keys: changes.size };
  }

  async promote(): Promise<void> {
    const staged = this.staged;
    this.staged = undefined;
    if (staged !== undefined) this.apply(staged.changes, staged.nextOffset, staged.stamp);
  }

  /** After a crash: the staged checkpoint is kept only if the group's committed offset carries its token. */
  async resolvePending(committedToken: () => Promise<string | undefined>): Promise<'none' | 'promoted' | 'discarded'> {
    if (this.staged === undefined) return 'none';
    if ((await committedToken()) === this.staged.token) {
      await this.promote();
      return 'promoted';
    }
    this.staged = undefined;
    return 'discarded';
  }

  sorted(): Array<[string, string]> {
    return [...this.state].sort();
  }
}

/** A source task over a MemoryStore; `read` stands for the topology reading input. */
export function memoryTask(partition: number, topic = 'clicks') {
  const store = new MemoryStore(`source-${partition}`);
  let pending: Changes = new Map();
  const task: CheckpointedTask = {
    stage: 'source',
    topic,
    partition,
    nextOffset: undefined,
    checkpointedOffset: undefined,
    seq: 0,
    unsavedChanges: undefined,
    takeChanges: () => {
      const taken = pending;
      pending = new Map();
      return taken;
    },
    store,
  };
  /** The topology read up to `nextOffset` and changed `changes`. */
  const read = (nextOffset: number, changes: Record<string, string | null>): void => {
    task.nextOffset = nextOffset;
    for (const [k, v] of Object.entries(changes)) pending.set(k, v);
  };
  return { task, store, read };
}

/** A producer whose flush always succeeds (outputs acknowledged). */
export const acknowledgingProducer = { flush: (_timeoutMs: number, cb: (err: Error | null) => void) => cb(null) };

interface Transaction {
  batches: ChangelogBatch[];
  offsets: OffsetWithMetadata[];
}

/**
 * The broker side: committed transactions are visible, an open one is not (a crash leaves it to
 * be aborted). `failing` makes the next commits fail.
 */
export class MemoryKafka {
  readonly committed: Transaction[] = [];
  open: Transaction | undefined;
  failing = false;

  /** Puts changelog batches into the open transaction (exactly-once) or one of their own (at-least-once). */
  begin(): Transaction {
    this.open ??= { batches: [], offsets: [] };
    return this.open;
  }

  commitOpen(offsets: OffsetWithMetadata[]): boolean {
    const txn = this.begin();
    if (this.failing) {
      this.open = undefined;
      return false;
    }
    txn.offsets.push(...offsets);
    this.committed.push(txn);
    this.open = undefined;
    return true;
  }

  /** A crashed worker's open transaction: aborted when its id is registered again. */
  abortOpen(): void {
    this.open = undefined;
  }

  /** The at-least-once changelog writer: records and offsets in one transaction of their own. */
  changelogSink(writer = 'w1') {
    return {
      writer,
      topicOf: () => 'changelog-source',
      write: async (batches: ChangelogBatch[], offsets: OffsetWithMetadata[], beforeCommit: () => void = () => undefined) => {
        this.begin().batches.push(...batches);
        beforeCommit();
        return this.commitOpen(offsets);
      },
    };
  }

  /** The exactly-once changelog sink: records into the open transaction; offsets come with the commit. */
  transactionalChangelogSink(writer = 'w1') {
    return {
      writer,
      topicOf: () => 'changelog-source',
      write: async (batches: ChangelogBatch[]) => {
        this.begin().batches.push(...batches);
        return true; // queued in the open transaction; whether it commits is the commit's business
      },
    };
  }

  /** Transactions.commit: offsets join the open transaction (then `afterOffsets` runs), and it commits. */
  transactions() {
    return {
      commit: async (offsets: OffsetWithMetadata[], _consumer: unknown, _timeoutMs: number, afterOffsets: () => void = () => undefined): Promise<CommitOutcome> => {
        this.begin();
        afterOffsets();
        return this.commitOpen(offsets) ? { committed: true } : { committed: false, reason: 'commit failed' };
      },
    };
  }

  /** The group's committed offset of a partition and its metadata, as read_committed sees them. */
  groupOffset(partition: number): OffsetWithMetadata | undefined {
    return this.committed.flatMap((t) => t.offsets).filter((o) => o.partition === partition).at(-1);
  }

  /** A new owner's view of a task's changelog: the state as of its last marker. */
  changelog(partition: number): ChangelogFold {
    const fold = new ChangelogFold();
    for (const txn of this.committed) {
      for (const batch of txn.batches.filter((b) => b.partition === partition)) {
        for (const record of batch.records) fold.apply(record.key, record.value);
      }
    }
    return fold;
  }
}
