// Aligned savepoints (stop-with-savepoint). Each source task, once its state is contributed, sends
// a barrier naming the savepoint to every merge partition and reads no more clicks. A merge task's
// state is the savepoint's once it has read the barrier of every source partition and nothing
// from a source after that source's barrier: it then holds every partial the sources sent before
// their own state was taken, and no other (Chandy and Lamport's snapshot, as Flink aligns its
// checkpoint barriers). Every source sends its watermarks to every merge partition, so aligned
// merge tasks have seen the same watermarks and emitted windows up to the same time: what lets a
// rescale move a url's rows to another merge partition. Pure.

export type Alignment = 'waiting' | 'aligned' | 'broken';

/** Savepoints followed at once: ids are written by anyone who can write to the partials topic. */
const MAX_FOLLOWED = 4;

export class BarrierAlignment {
  /** Savepoint id -> the source partitions whose barrier came, or why the alignment broke. */
  private readonly followed = new Map<string, { sources: Set<number>; broken?: string }>();

  constructor(private readonly sourcePartitions: number) {}

  /** A source's barrier for `savepointId` (a repeated one, after a retry, changes nothing). */
  barrier(savepointId: string, source: number): void {
    let entry = this.followed.get(savepointId);
    if (entry === undefined) {
      if (this.followed.size >= MAX_FOLLOWED) this.followed.delete(this.followed.keys().next().value!);
      this.followed.set(savepointId, (entry = { sources: new Set() }));
    }
    entry.sources.add(source);
  }

  /**
   * Any other partial from `source`: data from after its barrier (it moved to a worker that had
   * not heard of the savepoint yet) would be in the merge task's state, and missing from the source's.
   */
  partialFrom(source: number): void {
    if (this.followed.size === 0) return;
    for (const entry of this.followed.values()) {
      if (entry.broken === undefined && entry.sources.has(source)) entry.broken = `source partition ${source} sent data after its barrier`;
    }
  }

  state(savepointId: string): Alignment {
    const entry = this.followed.get(savepointId);
    if (entry === undefined) return 'waiting';
    if (entry.broken !== undefined) return 'broken';
    return entry.sources.size >= this.sourcePartitions ? 'aligned' : 'waiting';
  }

  /** Why the alignment for `savepointId` broke, if it did. */
  brokenBecause(savepointId: string): string | undefined {
    return this.followed.get(savepointId)?.broken;
  }

  /** Contributed (or given up): later partials are the job's own again. */
  forget(savepointId: string): void {
    this.followed.delete(savepointId);
  }
}
