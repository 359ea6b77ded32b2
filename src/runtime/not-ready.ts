// A task that cannot open yet, for a reason that passes by itself: the group's committed offset
// is held by a previous owner's open transaction (committed-offsets.ts), the changelog does not
// show that offset's checkpoint yet, or another worker of this machine still holds the store
// (tasks.ts). Its partition is assigned anyway and waits paused while the loop polls on
// (task-manager.ts): waiting inside the rebalance would make the whole group wait with it.

/** Why a task waits; each reason has its own clock (a long wait for one must not cut another's short). */
export type NotReadyKind = 'offset' | 'changelog' | 'store';

export class TaskNotReadyError extends Error {
  constructor(
    readonly kind: NotReadyKind,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A task's waits so far, per reason: since when it has been refused for each (epoch ms). Pure:
 * the clock is the caller's.
 */
export class WaitClocks {
  private readonly firstRefusedAt: Partial<Record<NotReadyKind, number>> = {};

  /** How long the task has been refused for `kind`: 0 before its first refusal for it. */
  waitedMs(kind: NotReadyKind, nowMs: number): number {
    const since = this.firstRefusedAt[kind];
    return since === undefined ? 0 : Math.max(0, nowMs - since);
  }

  refused(kind: NotReadyKind, nowMs: number): void {
    this.firstRefusedAt[kind] ??= nowMs;
  }
}
