// A consumer group's members and their assignments, described by a child process: librdkafka's
// admin client has crashed the process that held it (a fresh broker, a broker restart), and a
// test must see that as a failed attempt, not as its own crash.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { packageRoot } from '../../src/config.js';
import { GROUP_STABLE, type GroupState } from '../../src/kafka/groups.js';
import { brokers } from './kafka.js';
import type { TestJob } from './job.js';

export function describeGroup(groupId: string, at = brokers): Promise<GroupState> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(packageRoot, 'dist', 'chaos', 'describe-group.js'), at, groupId], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('close', (code, signal) => (code === 0 ? resolve(JSON.parse(out) as GroupState) : reject(new Error(`describing group ${groupId} failed (exit ${code ?? signal})`))));
  });
}

export interface Share {
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
export async function settledShares(job: TestJob, alive: ChildProcess[], partitions = 4): Promise<Map<number, Share>> {
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
      if (totals.source === partitions && totals.merge === partitions) return last;
      last = `partitions assigned: ${JSON.stringify(totals)}`;
    }
  }
  assert.fail(`the group did not settle on the live workers: ${last}`);
}
