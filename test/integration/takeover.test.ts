// Issue 12's scenario on a real broker: workers with state dirs of their own (as on machines of
// their own) are killed during catch-up and replaced by workers with empty state dirs, so every
// task moves at least once to a worker that has only the changelog to go by. Repeated in a loop,
// because what broke was a race (colliding transactional ids fenced the changelog writes, and
// the group's offsets ran ahead of the changelog); every run's output must equal the oracle, and
// in exactly-once mode hold no duplicate.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { differences, runTakeover } from '../support/takeover.js';

const runs = Number(process.env.TAKEOVER_RUNS ?? 3);

for (const exactlyOnce of [false, true]) {
  test(`${exactlyOnce ? 'exactly-once' : 'at-least-once'}: workers killed during catch-up and replaced by workers with empty state dirs, ${runs} runs: every output equals the oracle`, async () => {
    let rebuilt = 0;
    for (let run = 1; run <= runs; run++) {
      const result = await runTakeover({ clicks: 600_000, seed: 120 + run, exactlyOnce, stepMs: 3_000, key: run % 2 === 0 ? 'none' : 'user' });
      const found = differences(result);
      if (exactlyOnce && result.output.duplicates > 0) found.push(`${result.output.duplicates} duplicate records`);
      assert.deepEqual(found, [], `run ${run}: ${found.join('; ')}\n${result.logs.map((log, i) => `worker ${i + 1}:\n${log.slice(-3_000)}`).join('\n')}`);
      rebuilt += result.logs.join('\n').split('\n').filter((line) => line.includes('task state rebuilt from the changelog')).length;
    }
    // How many tasks had state when they moved depends on timing (a task moved before its first
    // checkpoint starts empty, rightly); over the runs, some must have come from the changelog.
    assert.ok(rebuilt > 0, 'tasks moved to workers with empty state dirs were rebuilt from the changelog');
  });
}
