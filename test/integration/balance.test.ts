// Every worker gets its share of each stage: with W workers on 4 partitions, each holds 4/W source
// tasks and 4/W merge tasks, within one, as the group itself reports them (its members and their
// assignments), after the start and after one worker is killed with SIGKILL and another joins.
// The output still equals the oracle.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { settledShares, type Share } from '../support/group.js';
import { assertOutputEqualsOracle, createJob, oracleFor, produce, readOutput, startWorker, stopAll, stopWorker } from '../support/job.js';

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
