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
import { topicNames } from '../../../src/config.js';

const topics = topicNames('t.');

/** A group member that records, in `calls`, the calls the task manager makes on it. */
function fakeMember(name: string, calls: string[], lost: boolean) {
  const consumer = {
    lost,
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

/** Opens fake tasks resuming where `resumes` says; records closes. */
function fakeOpener(resumes: Record<string, ResumePoint>, closed: string[]): TaskOpener {
  return async (stage, topic, partition) => {
    const name = `${stage}-${partition}`;
    return { stage, topic, partition, resume: resumes[name] ?? { from: 'earliest' }, pendingResolution: 'none', stateOrigin: { use: 'local' }, store: { close: async () => void closed.push(name) } } as unknown as Task;
  };
}

function manager(lost: boolean | 'merge' = false, resumes: Record<string, ResumePoint> = {}) {
  const calls: string[] = [];
  const consumers = new StageConsumers(fakeMember('source', calls, lost === true), fakeMember('merge', calls, lost !== false), topics.clicks);
  const closed: string[] = [];
  const checkpointed: string[][] = [];
  let lostCount = 0;
  const tasks = new TaskManager(
    consumers,
    { stateDir: '/nonexistent', jobId: 'j', windows: { paneMs: 5_000, totalWindowMs: 10_000, totalSlideMs: 5_000, statsWindowMs: 60_000, allowedLatenessMs: 0 }, maxOutOfOrdernessMs: 20_000, idleTimeoutMs: 10_000, clicksPartitions: 2, mergePartitions: 2, recordedLatenessMs: 0 },
    undefined,
    new BrokerHealth('b', logger('test'), []),
    {
      checkpointRevoked: async (revoked) => void checkpointed.push(revoked.map((t) => `${t.stage}-${t.partition}`)),
      partitionsLost: () => void lostCount++,
      restoreProgress: () => undefined,
    },
    fakeOpener(resumes, closed),
  );
  return { tasks, calls, closed, checkpointed, lost: () => lostCount };
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
