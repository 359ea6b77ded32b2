// Every worker gets its share of each stage: with W workers on 4 partitions, each holds 4/W source
// tasks and 4/W merge tasks, within one, as the group itself reports them (its members and their
// assignments), after the start and after one worker is killed with SIGKILL and another joins.
// The output still equals the oracle.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { GROUP_STABLE, type GroupState } from '../../src/kafka/groups.js';
import { describeGroup } from '../support/group.js';
import { assertOutputEqualsOracle, createJob, oracleFor, produce, readOutput, startWorker, stopAll, stopWorker, type TestJob } from '../support/job.js';

interface Share {
  source: number;
  merge: number;
}

/** Source and merge partitions per live worker, if the group is stable with exactly their members. */
function shares(job: TestJob, group: GroupState, alive: ChildProcess[]): Map<number, Share> | string {
  if (group.state !== GROUP_STABLE) return `group state ${group.state}`;
  const byWorker = new Map<number, Share>(alive.map((w) => [w.pid!, { source: 0, merge: 0 }]));
  if (group.clientIds.length !== 2 * alive.length) return `${group.clientIds.length} members for ${alive.length} workers: ${group.clientIds.join(', ')}`;
  for (const [i, clientId] of group.clientIds.entries()) {
    const match = /-worker-(\d+)-(source|merge)$/.exec(clientId);
    const share = match ? byWorker.get(Number(match[1])) : undefined;
    if (match === null || share === undefined) return `member ${clientId} is no live worker's`;
    for (const { topic } of group.assignments[i]!) {
      const stage = topic === job.topics.clicks ? 'source' : topic === job.topics.partials ? 'merge' : undefined;
      if (stage !== match[2]) return `member ${clientId} holds ${topic}`;
      share[stage]++;
    }
  }
  return byWorker;
}

/** Waits until the group holds exactly the live workers with every partition assigned; returns each worker's share. */
async function settledShares(job: TestJob, alive: ChildProcess[]): Promise<Map<number, Share>> {
  let last: Map<number, Share> | string = 'never described';
  for (const deadline = Date.now() + 90_000; Date.now() < deadline; await sleep(500)) {
    try {
      last = shares(job, await describeGroup(job.jobId), alive);
    } catch (err) {
      last = (err as Error).message; // the coordinator of a fresh broker may not be up yet
      continue;
    }
    if (typeof last !== 'string') {
      const totals = [...last.values()].reduce((sum, s) => ({ source: sum.source + s.source, merge: sum.merge + s.merge }), { source: 0, merge: 0 });
      if (totals.source === 4 && totals.merge === 4) return last;
      last = `partitions assigned: ${JSON.stringify(totals)}`;
    }
  }
  assert.fail(`the group did not settle on the live workers: ${last}`);
}

function assertEvenPerStage(perWorker: Map<number, Share>, when: string): void {
  const workers = perWorker.size;
  const low = Math.floor(4 / workers);
  const high = Math.ceil(4 / workers);
  for (const stage of ['source', 'merge'] as const) {
    const counts = [...perWorker.values()].map((share) => share[stage]);
    assert.ok(counts.every((n) => n >= low && n <= high), `${when}: ${stage} tasks per worker ${JSON.stringify(counts)}, each should be ${low}–${high}`);
  }
}

for (const workers of [2, 3, 4]) {
  test(`${workers} workers: each holds its share of source tasks and of merge tasks, also after kill -9 and a new worker; output equals the oracle`, async () => {
    const job = await createJob(`balance-${workers}`);
    try {
      const producing = produce(job, ['--rate', '4000', '--count', '80000', '--event-rate', '1000', '--seed', String(60 + workers), '--key', 'url', '--late-share', '0.01']);
      const alive = Array.from({ length: workers }, () => startWorker(job));
      assertEvenPerStage(await settledShares(job, alive), 'after the start');
      const victim = alive.shift()!;
      await stopWorker(victim, 'SIGKILL');
      alive.push(startWorker(job));
      assertEvenPerStage(await settledShares(job, alive), 'after kill -9 and a new worker');
      const expected = oracleFor(await producing);
      assertOutputEqualsOracle(await readOutput(job, expected), expected);
    } finally {
      await stopAll(job);
    }
  });
}
