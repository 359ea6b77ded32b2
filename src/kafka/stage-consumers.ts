// A worker joins the job's consumer group as two members: one subscribed to `clicks` (the source
// stage), one to `partials` (the merge stage). The cooperative-sticky assignor balances the
// partitions each member can take, so each stage spreads over the workers within one partition.
// With one member subscribed to both topics it balanced the total instead: of two workers, one
// could hold every source task and the other every merge task, and a second machine added no
// source throughput. Both members share the group id, so committed offsets, savepoints and a
// running job's positions stay where they were; each stage's offsets are committed by the member
// that owns them (with its own generation: a member that lost a partition is refused).

import type { Stage } from '../state/state-dir.js';
import type { ConsumerClient } from './clients.js';

/** The group member that owns (reads, commits) a topic's partitions. */
export type MemberOf = (topic: string) => ConsumerClient;

export class StageConsumers {
  constructor(
    readonly source: ConsumerClient,
    readonly merge: ConsumerClient,
    private readonly sourceTopic: string,
  ) {}

  /** The stage whose tasks read `topic`. */
  stageOf(topic: string): Stage {
    return topic === this.sourceTopic ? 'source' : 'merge';
  }

  /** The member that reads (and commits) `topic`. */
  of(topic: string): ConsumerClient {
    return topic === this.sourceTopic ? this.source : this.merge;
  }

  get all(): ConsumerClient[] {
    return [this.source, this.merge];
  }
}

/** Offsets split by the member that commits them, in a stable order (source first). Pure. */
export function offsetsByMember<T extends { topic: string }, Member>(offsets: T[], memberOf: (topic: string) => Member): Array<{ consumer: Member; offsets: T[] }> {
  const groups = new Map<Member, T[]>();
  for (const offset of offsets) {
    const consumer = memberOf(offset.topic);
    const group = groups.get(consumer);
    if (group === undefined) groups.set(consumer, [offset]);
    else group.push(offset);
  }
  return [...groups].map(([consumer, grouped]) => ({ consumer, offsets: grouped }));
}
