// The task manager's decisions, with fake group members (one per stage) and fake tasks: what a
// revocation, a lost assignment and an assignment do to the tasks and to the member that owns
// the partitions, in which order, and where a task resumes reading.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CODES, OFFSET_BEGINNING, type ConsumerClient } from '../../../src/kafka/clients.js';
import { StageConsumers } from '../../../src/kafka/stage-consumers.js';
import { logger } from '../../../src/log.js';
import type { ResumePoint } from '../../../src/state/changelog.js';
import { BrokerHealth } from '../../../src/runtime/outage.js';
import { TaskManager, type TaskOpener } from '../../../src/runtime/task-manager.js';
import type { Task } from '../../../src/runtime/tasks.js';
import { TaskNotReadyError, type NotReadyKind } from '../../../src/runtime/not-ready.js';
import { topicNames } from '../../../src/config.js';

const topics = topicNames('t.');

/**
 * The group's committed offsets as fake members read them: answered at once, unless the
 * partition's reads are held (answered on release) or set to fail (answered with an error).
 */
class FakeCommitted {
  readonly held = new Set<string>();
  readonly failing = new Map<string, number>();
  readonly reads: string[] = [];
  private readonly waiting = new Map<string, Array<() => void>>();

  read = (parts: Array<{ topic: string; partition: number }>, _timeoutMs: number, cb: (err: Error | null, offsets: unknown[]) => void): void => {
    const keys = parts.map((p) => `${p.topic}-${p.partition}`);
    this.reads.push(...keys);
    const answer = () => cb(null, parts.map((p) => ({ ...p, offset: 1, metadata: null })));
    const failing = keys.filter((key) => (this.failing.get(key) ?? 0) > 0);
    for (const key of failing) this.failing.set(key, this.failing.get(key)! - 1);
    const held = keys.find((key) => this.held.has(key));
    if (failing.length > 0) cb(new Error('Local: Timed out'), []);
    else if (held !== undefined) this.waiting.set(held, [...(this.waiting.get(held) ?? []), answer]);
    else answer();
  };

  release(key: string): void {
    this.held.delete(key);
    for (const answer of this.waiting.get(key) ?? []) answer();
    this.waiting.delete(key);
  }
}

/** A group member that records, in `calls`, the calls the task manager makes on it. */
function fakeMember(name: string, calls: string[], lost: boolean, committed = new FakeCommitted()) {
  const consumer = {
    lost,
    committed: committed.read,
    incrementalAssign: (parts: Array<{ topic: string; partition: number; offset: number }>) => calls.push(`${name} assign ${parts.map((p) => `${p.topic}-${p.partition}@${p.offset}`).join(',')}`),
    incrementalUnassign: (parts: Array<{ topic: string; partition: number }>) => calls.push(`${name} unassign ${parts.map((p) => `${p.topic}-${p.partition}`).join(',')}`),
    assignmentLost: () => consumer.lost,
    pause: (parts: unknown[]) => calls.push(`${name} pause ${parts.length}`),
    resume: (parts: unknown[]) => calls.push(`${name} resume ${parts.length}`),
    seek: (tp: { topic: string; partition: number; offset: number }, _timeout: number, cb: (err: Error | null) => void) => {
      calls.push(`${name} seek ${tp.topic}-${tp.partition}@${tp.offset}`);
      cb(null);
    },
    assignments: () => [],
    unsubscribe: () => calls.push(`${name} unsubscribe`),
  };
  return consumer as unknown as ConsumerClient & { lost: boolean };
}

/** What an opening attempt was told of its waits so far. */
type Attempt = { task: string; storeWaitedMs: number; changelogWaitedMs: number };

/**
 * Opens fake tasks resuming where `resumes` says, each after reading its committed offset (as with
 * a changelog); refuses a task once per reason queued for it in `refusals` (its store held, its
 * changelog behind), noting what each attempt is told of its waits; records closes.
 */
function fakeOpener(resumes: Record<string, ResumePoint>, closed: string[], refusals = new Map<string, NotReadyKind[]>(), attempts: Attempt[] = []): TaskOpener {
  return async (stage, topic, partition, { committed, waitedMs }) => {
    const name = `${stage}-${partition}`;
    await committed();
    attempts.push({ task: name, storeWaitedMs: waitedMs('store'), changelogWaitedMs: waitedMs('changelog') });
    const kind = refusals.get(name)?.shift();
    if (kind !== undefined) throw new TaskNotReadyError(kind, `${name}: refused for its ${kind}`);
    return { stage, topic, partition, resume: resumes[name] ?? { from: 'earliest' }, stateOrigin: { use: 'local' }, store: { close: async () => void closed.push(name) } } as unknown as Task;
  };
}

function manager(lost: boolean | 'merge' = false, resumes: Record<string, ResumePoint> = {}) {
  const calls: string[] = [];
  const committed = new FakeCommitted();
  const consumers = new StageConsumers(fakeMember('source', calls, lost === true, committed), fakeMember('merge', calls, lost !== false, committed), topics.clicks);
  const closed: string[] = [];
  const checkpointed: string[][] = [];
  const refusals = new Map<string, NotReadyKind[]>();
  const attempts: Attempt[] = [];
  let lostCount = 0;
  const tasks = new TaskManager(
    consumers,
    undefined,
    new BrokerHealth('b', logger('test'), []),
    {
      checkpointRevoked: async (revoked) => void checkpointed.push(revoked.map((t) => `${t.stage}-${t.partition}`)),
      partitionsLost: () => void lostCount++,
      restoreProgress: () => undefined,
    },
    fakeOpener(resumes, closed, refusals, attempts),
  );
  return { tasks, calls, closed, checkpointed, committed, refusals, attempts, consumers, lost: () => lostCount };
}

const assignEvent = { code: CODES.ERRORS.ERR__ASSIGN_PARTITIONS };
const revokeEvent = { code: CODES.ERRORS.ERR__REVOKE_PARTITIONS };

test('an assignment opens a task per partition, each fetching from where its state resumes', async () => {
  const m = manager(false, { 'source-0': { from: 'checkpoint', offset: 500 }, 'merge-1': { from: 'group', offset: 70 } });
  m.tasks.onRebalance('source', assignEvent, [{ topic: topics.clicks, partition: 0 }, { topic: topics.clicks, partition: 1 }]);
  m.tasks.onRebalance('merge', assignEvent, [{ topic: topics.partials, partition: 1 }]);
  assert.equal(m.tasks.rebalancePending, true, 'the callback only queues');
  assert.equal(m.tasks.tasks.length, 0);
  await m.tasks.handleRebalances();
  assert.deepEqual(m.tasks.tasks.map((t) => `${t.stage}-${t.partition}`).sort(), ['merge-1', 'source-0', 'source-1']);
  assert.deepEqual(m.calls, [`source assign ${topics.clicks}-0@500,${topics.clicks}-1@${OFFSET_BEGINNING}`, 'source resume 2', `merge assign ${topics.partials}-1@70`, 'merge resume 1'], 'each member assigns its own partitions');
  assert.equal(m.tasks.assignmentSettled, true);
  assert.ok(m.tasks.source(0) !== undefined && m.tasks.merge(1) !== undefined && m.tasks.merge(0) === undefined);
});

test('a revocation checkpoints the revoked tasks before closing them and giving the partitions back', async () => {
  const m = manager();
  m.tasks.onRebalance('source', assignEvent, [{ topic: topics.clicks, partition: 0 }, { topic: topics.clicks, partition: 1 }]);
  m.tasks.onRebalance('merge', assignEvent, []);
  await m.tasks.handleRebalances();
  m.calls.length = 0;
  m.tasks.onRebalance('source', revokeEvent, [{ topic: topics.clicks, partition: 1 }]);
  await m.tasks.handleRebalances();
  assert.deepEqual(m.checkpointed, [['source-1']]);
  assert.deepEqual(m.closed, ['source-1']);
  assert.deepEqual(m.calls, [`source unassign ${topics.clicks}-1`]);
  assert.equal(m.lost(), 0);
  assert.equal(m.tasks.assignmentSettled, false, 'not settled until the next assignment arrives');
  assert.deepEqual(m.tasks.tasks.map((t) => t.partition), [0], 'the partition kept goes on');
  m.tasks.onRebalance('source', assignEvent, []);
  await m.tasks.handleRebalances();
  assert.equal(m.tasks.assignmentSettled, true);
});

test('the assignment is settled only once both members have theirs', async () => {
  const m = manager();
  m.tasks.onRebalance('source', assignEvent, [{ topic: topics.clicks, partition: 0 }]);
  await m.tasks.handleRebalances();
  assert.equal(m.tasks.assignmentSettled, false, 'the merge member has not heard from the group yet');
  m.tasks.onRebalance('merge', assignEvent, []);
  await m.tasks.handleRebalances();
  assert.equal(m.tasks.assignmentSettled, true);
  m.tasks.onRebalance('merge', revokeEvent, []);
  await m.tasks.handleRebalances();
  assert.equal(m.tasks.assignmentSettled, false, 'a revocation of either member unsettles it');
});

test('a lost assignment closes the tasks without a checkpoint (their new owner may have started)', async () => {
  const m = manager(true);
  m.tasks.onRebalance('source', assignEvent, [{ topic: topics.clicks, partition: 0 }]);
  await m.tasks.handleRebalances();
  m.tasks.onRebalance('source', revokeEvent, [{ topic: topics.clicks, partition: 0 }]);
  await m.tasks.handleRebalances();
  assert.deepEqual(m.checkpointed, []);
  assert.equal(m.lost(), 1);
  assert.deepEqual(m.closed, ['source-0']);
  assert.equal(m.tasks.tasks.length, 0);
});

test('partitions assigned while fetching is paused come in paused (librdkafka keeps a pause across assignments)', async () => {
  const m = manager();
  m.tasks.pauseFetching(true);
  m.tasks.onRebalance('source', assignEvent, [{ topic: topics.clicks, partition: 0 }]);
  await m.tasks.handleRebalances();
  assert.deepEqual(m.calls.at(-1), 'source pause 1');
});

test('reopening every task (exactly-once recovery) seeks each partition back to its checkpoint', async () => {
  const m = manager(false, { 'source-0': { from: 'checkpoint', offset: 42 }, 'merge-1': { from: 'checkpoint', offset: 7 } });
  m.tasks.onRebalance('source', assignEvent, [{ topic: topics.clicks, partition: 0 }]);
  m.tasks.onRebalance('merge', assignEvent, [{ topic: topics.partials, partition: 1 }]);
  await m.tasks.handleRebalances();
  m.calls.length = 0;
  assert.equal(await m.tasks.reopenAll(), 2);
  assert.deepEqual(m.closed.sort(), ['merge-1', 'source-0']);
  assert.deepEqual(m.calls, [`source seek ${topics.clicks}-0@42`, `merge seek ${topics.partials}-1@7`]);
});

test('exactly-once recovery does not reopen the tasks of a member whose assignment is lost (it missed max.poll.interval.ms)', async () => {
  const m = manager(false, { 'source-0': { from: 'checkpoint', offset: 42 }, 'merge-1': { from: 'checkpoint', offset: 7 } });
  m.tasks.onRebalance('source', assignEvent, [{ topic: topics.clicks, partition: 0 }]);
  m.tasks.onRebalance('merge', assignEvent, [{ topic: topics.partials, partition: 1 }]);
  await m.tasks.handleRebalances();
  m.calls.length = 0;
  (m.consumers.source as unknown as { lost: boolean }).lost = true;
  assert.equal(await m.tasks.reopenAll(), 2);
  assert.deepEqual(m.closed.sort(), ['merge-1', 'source-0']);
  assert.deepEqual(m.calls, [`merge seek ${topics.partials}-1@7`], 'only the merge task reopens');
  assert.deepEqual(m.tasks.tasks.map((t) => `${t.stage}-${t.partition}`), ['merge-1']);
  m.tasks.onRebalance('source', revokeEvent, [{ topic: topics.clicks, partition: 0 }]);
  await m.tasks.handleRebalances();
  assert.equal(m.lost(), 1);
  assert.deepEqual(m.calls.slice(1), [`source unassign ${topics.clicks}-0`], 'the lost event gives the partition back');
  assert.deepEqual(m.closed.sort(), ['merge-1', 'source-0'], 'nothing closed twice');
});

test('once closing, rebalance events go straight to the consumer', async () => {
  const m = manager();
  await m.tasks.closeAll();
  m.tasks.onRebalance('merge', assignEvent, [{ topic: topics.partials, partition: 0 }]);
  assert.equal(m.tasks.rebalancePending, false);
  assert.match(m.calls.at(-1)!, /^merge assign /);
});

test('only the member whose assignment was lost skips the checkpoint; the other stage revokes as usual', async () => {
  const m = manager('merge');
  m.tasks.onRebalance('source', assignEvent, [{ topic: topics.clicks, partition: 0 }]);
  m.tasks.onRebalance('merge', assignEvent, [{ topic: topics.partials, partition: 1 }]);
  await m.tasks.handleRebalances();
  m.calls.length = 0;
  m.tasks.onRebalance('merge', revokeEvent, [{ topic: topics.partials, partition: 1 }]);
  m.tasks.onRebalance('source', revokeEvent, [{ topic: topics.clicks, partition: 0 }]);
  await m.tasks.handleRebalances();
  assert.equal(m.lost(), 1, 'the merge member lost its partition');
  assert.deepEqual(m.checkpointed, [['source-0']], 'the source member still checkpoints before giving its partition back');
  assert.deepEqual(m.calls, [`merge unassign ${topics.partials}-1`, `source unassign ${topics.clicks}-0`]);
});

test('tasks whose committed offsets cannot be read yet do not hold the rebalance: assigned paused, each opens after a read of it succeeds, one read at a time', async () => {
  const m = manager(false, { 'source-0': { from: 'checkpoint', offset: 500 }, 'source-1': { from: 'checkpoint', offset: 900 } });
  const [key0, key1] = [`${topics.clicks}-0`, `${topics.clicks}-1`];
  m.committed.failing.set(key1, 1); // one read of both: it fails for both
  m.tasks.onRebalance('source', assignEvent, [{ topic: topics.clicks, partition: 0 }, { topic: topics.clicks, partition: 1 }]);
  m.tasks.onRebalance('merge', assignEvent, []);
  await m.tasks.handleRebalances();
  assert.equal(m.tasks.tasks.length, 0);
  assert.deepEqual(m.calls, [`source assign ${key0}@undefined,${key1}@undefined`, 'source pause 2', 'merge assign '], 'both partitions assigned (the group completes), paused');
  assert.equal(m.tasks.opensPending, true);
  assert.equal(m.tasks.assignmentSettled, false, 'no savepoint while a task waits to open');
  assert.deepEqual(m.committed.reads, [key0, key1]);

  m.calls.length = 0;
  const later = Date.now() + 60_000;
  await m.tasks.retryPendingOpens(later); // reads partition 0 (answered at once)
  await m.tasks.retryPendingOpens(later); // opens it
  assert.deepEqual(m.calls, [`source seek ${key0}@500`, 'source resume 1'], 'opened: sought to its checkpoint, then fetching');
  assert.deepEqual(m.tasks.tasks.map((t) => `${t.stage}-${t.partition}`), ['source-0']);

  m.calls.length = 0;
  m.committed.held.add(key1);
  await m.tasks.retryPendingOpens(later); // reads partition 1: no answer yet
  await m.tasks.retryPendingOpens(later + 60_000);
  assert.deepEqual(m.calls, [], 'nothing happens while the read goes on');
  assert.deepEqual(m.committed.reads, [key0, key1, key0, key1], 'and no second read starts');
  m.committed.release(key1);
  await m.tasks.retryPendingOpens(later + 60_000);
  assert.deepEqual(m.calls, [`source seek ${key1}@900`, 'source resume 1']);
  assert.deepEqual(m.tasks.tasks.map((t) => `${t.stage}-${t.partition}`).sort(), ['source-0', 'source-1']);
  assert.equal(m.tasks.opensPending, false);
  assert.equal(m.tasks.assignmentSettled, true);
});

test('a failed read of a waiting partition is started again a second after it ended, until one answers', async () => {
  const m = manager(false, { 'merge-0': { from: 'group', offset: 70 } });
  const key = `${topics.partials}-0`;
  m.committed.failing.set(key, 2);
  m.tasks.onRebalance('source', assignEvent, []);
  m.tasks.onRebalance('merge', assignEvent, [{ topic: topics.partials, partition: 0 }]);
  await m.tasks.handleRebalances();
  assert.equal(m.tasks.opensPending, true);
  const reads = () => m.committed.reads.filter((read) => read === key).length;
  assert.equal(reads(), 1);
  const t0 = Date.now();
  await m.tasks.retryPendingOpens(t0 + 500);
  assert.equal(reads(), 1, 'not again within a second');
  await m.tasks.retryPendingOpens(t0 + 1_000); // the second read (it fails)
  await m.tasks.retryPendingOpens(t0 + 1_100); // sees it failed
  await m.tasks.retryPendingOpens(t0 + 1_500);
  assert.equal(reads(), 2, 'not again within a second of its end');
  m.calls.length = 0;
  await m.tasks.retryPendingOpens(t0 + 2_100); // the third read answers
  await m.tasks.retryPendingOpens(t0 + 2_100);
  assert.equal(reads(), 3);
  assert.deepEqual(m.calls, [`merge seek ${key}@70`, 'merge resume 1']);
  assert.equal(m.tasks.opensPending, false);
});

test('a partition revoked while its task waits to open is given back without a checkpoint', async () => {
  const m = manager();
  m.committed.failing.set(`${topics.partials}-0`, 5);
  m.tasks.onRebalance('source', assignEvent, []);
  m.tasks.onRebalance('merge', assignEvent, [{ topic: topics.partials, partition: 0 }]);
  await m.tasks.handleRebalances();
  assert.equal(m.tasks.opensPending, true);
  m.calls.length = 0;
  m.tasks.onRebalance('merge', revokeEvent, [{ topic: topics.partials, partition: 0 }]);
  await m.tasks.handleRebalances();
  assert.deepEqual(m.checkpointed, [[]], 'no task of it to checkpoint');
  assert.deepEqual(m.calls, [`merge unassign ${topics.partials}-0`]);
  assert.equal(m.tasks.opensPending, false);
  await m.tasks.retryPendingOpens(Date.now() + 10_000);
  await m.tasks.retryPendingOpens(Date.now() + 20_000);
  assert.equal(m.tasks.tasks.length, 0, 'nothing reopens it');
});

test('a task refused for another reason (its store, its changelog) waits the same way; each reason has its own clock', async () => {
  const m = manager(false, { 'source-0': { from: 'checkpoint', offset: 500 }, 'source-1': { from: 'checkpoint', offset: 900 } });
  const [key0, key1] = [`${topics.clicks}-0`, `${topics.clicks}-1`];
  m.refusals.set('source-1', ['store', 'store', 'changelog']);
  m.tasks.onRebalance('source', assignEvent, [{ topic: topics.clicks, partition: 0 }, { topic: topics.clicks, partition: 1 }]);
  m.tasks.onRebalance('merge', assignEvent, []);
  await m.tasks.handleRebalances();
  assert.deepEqual(m.calls, [`source assign ${key0}@500,${key1}@undefined`, 'source resume 1', 'source pause 1', 'merge assign '], 'the task that could open fetches; the other waits paused');
  assert.deepEqual(m.tasks.tasks.map((t) => `${t.stage}-${t.partition}`), ['source-0']);
  assert.equal(m.tasks.assignmentSettled, false);
  const [waiting] = m.tasks.waitingToOpen;
  assert.equal(waiting?.task, 'source-1');
  assert.equal(waiting?.reason, 'source-1: refused for its store', 'the status says which task waits and why');
  assert.ok(waiting!.waitedMs >= 0);

  m.calls.length = 0;
  const t0 = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 30));
  await m.tasks.retryPendingOpens(t0 + 1_000); // reads its committed offset
  await m.tasks.retryPendingOpens(t0 + 1_000); // tries to open it: its store is still held
  assert.deepEqual(m.calls, ['source pause 1'], 'still waiting, still paused');
  await m.tasks.retryPendingOpens(t0 + 1_500);
  assert.equal(m.attempts.filter((a) => a.task === 'source-1').length, 2, 'not tried again within a second');
  await new Promise((resolve) => setTimeout(resolve, 30));
  await m.tasks.retryPendingOpens(t0 + 2_500);
  await m.tasks.retryPendingOpens(t0 + 2_500); // its changelog is behind
  assert.equal(m.tasks.waitingToOpen[0]?.reason, 'source-1: refused for its changelog');
  await new Promise((resolve) => setTimeout(resolve, 30));
  await m.tasks.retryPendingOpens(t0 + 4_000);
  m.calls.length = 0;
  await m.tasks.retryPendingOpens(t0 + 4_000); // opens
  assert.deepEqual(m.calls, [`source seek ${key1}@900`, 'source resume 1']);
  const told = m.attempts.filter((a) => a.task === 'source-1');
  assert.equal(told.length, 4);
  assert.deepEqual([told[0]!.storeWaitedMs, told[0]!.changelogWaitedMs], [0, 0], 'the first attempt has waited for nothing');
  assert.ok(told[1]!.storeWaitedMs >= 30 && told[2]!.storeWaitedMs >= 60, 'the store\'s clock runs from its first refusal');
  assert.equal(told[2]!.changelogWaitedMs, 0, 'a long wait for the store does not count against the changelog\'s');
  assert.ok(told[3]!.changelogWaitedMs >= 30, 'the changelog\'s clock runs from its own first refusal');
  assert.equal(m.tasks.opensPending, false);
  assert.deepEqual(m.tasks.waitingToOpen, []);
  assert.equal(m.tasks.assignmentSettled, true);
});

test('a waiting partition of a member whose assignment is lost is not opened (its new owner may wait for its store); fetching resumes only partitions with open tasks', async () => {
  const m = manager(false, { 'source-0': { from: 'checkpoint', offset: 5 }, 'merge-0': { from: 'checkpoint', offset: 7 } });
  m.refusals.set('source-0', ['store']);
  m.tasks.onRebalance('source', assignEvent, [{ topic: topics.clicks, partition: 0 }]);
  m.tasks.onRebalance('merge', assignEvent, [{ topic: topics.partials, partition: 0 }]);
  await m.tasks.handleRebalances();
  assert.equal(m.tasks.opensPending, true);
  (m.consumers.source as unknown as { lost: boolean }).lost = true;
  const attemptsBefore = m.attempts.length;
  const t0 = Date.now();
  for (const at of [t0 + 1_000, t0 + 1_000, t0 + 3_000, t0 + 3_000]) await m.tasks.retryPendingOpens(at);
  assert.equal(m.attempts.length, attemptsBefore, 'no attempt to open it');
  assert.equal(m.tasks.source(0), undefined);
  m.calls.length = 0;
  const members = m.consumers as unknown as { source: { assignments: () => unknown[] }; merge: { assignments: () => unknown[] } };
  members.source.assignments = () => [{ topic: topics.clicks, partition: 0 }];
  members.merge.assignments = () => [{ topic: topics.partials, partition: 0 }];
  m.tasks.pauseFetching(true);
  m.tasks.pauseFetching(false);
  assert.deepEqual(m.calls, ['source pause 1', 'merge pause 1', 'merge resume 1'], 'paused: everything; resumed: only the partition whose task is open');
});
