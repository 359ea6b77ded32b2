// A task that cannot open yet, for a reason that passes by itself: the group's committed offset
// is held by a previous owner's open transaction (committed-offsets.ts), the changelog does not
// show that offset's checkpoint yet, or another worker of this machine still holds the store
// (tasks.ts). Its partition is assigned anyway and waits paused while the loop polls on
// (task-manager.ts): waiting inside the rebalance would make the whole group wait with it.

export class TaskNotReadyError extends Error {}
