// Which allowed lateness a task's state was built with, and what a restore writes: pure parts of
// src/runtime/tasks.ts, src/savepoint/restore.ts and src/savepoint/from-state-dir.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { latenessConflict } from '../../../src/runtime/tasks.js';
import { withRestoredLateness } from '../../../src/savepoint/restore.js';
import { latenessOfTasks } from '../../../src/savepoint/from-state-dir.js';

test('a task refuses a worker with another lateness than its state: the one it records, else job.json\'s', () => {
  assert.equal(latenessConflict(true, 10_000, 0, 10_000), undefined, 'same');
  assert.equal(latenessConflict(true, 10_000, 10_000, 0), 10_000, 'the state decides, not job.json');
  assert.equal(latenessConflict(true, undefined, 60_000, 0), 60_000, 'state from before the key: job.json decides');
  assert.equal(latenessConflict(true, undefined, 0, 0), undefined);
  assert.equal(latenessConflict(false, undefined, 60_000, 0), undefined, 'no state yet: nothing to refuse');
});

test('a restore rewrites the lateness of every task, and keeps the further latePanesUntil of merge tasks', () => {
  const saved: Array<[string, string]> = [['count!x!/a', '1,0'], ['meta!allowedLatenessMs', '60000'], ['meta!latePanesUntil', '500']];
  assert.deepEqual(withRestoredLateness('merge', saved, 0, 300), [['count!x!/a', '1,0'], ['meta!allowedLatenessMs', '0'], ['meta!latePanesUntil', '500']], 'an earlier one further on stays');
  assert.deepEqual(withRestoredLateness('merge', saved, 0, 900).at(-1), ['meta!latePanesUntil', '900']);
  assert.deepEqual(withRestoredLateness('merge', saved, 0, undefined).at(-1), ['meta!latePanesUntil', '500'], 'not shortened now: the earlier one is kept');
  assert.deepEqual(withRestoredLateness('source', [['meta!allowedLatenessMs', '60000']], 30_000, 900), [['meta!allowedLatenessMs', '30000']], 'sources get none');
  assert.deepEqual(withRestoredLateness('merge', [], 0, undefined), [['meta!allowedLatenessMs', '0']]);
});

test('a savepoint of a state dir takes the lateness its tasks were built with, and refuses tasks that disagree', () => {
  const task = (partition: number, entries: Array<[string, string]>, nextOffset: number | null = 5) => ({ stage: 'source' as const, partition, entries, nextOffset });
  assert.equal(latenessOfTasks([task(0, [['meta!allowedLatenessMs', '0']]), task(1, [], null)], 10_000, 'state', 'j'), 0, 'the tasks, not job.json (a restore elsewhere changed it)');
  assert.equal(latenessOfTasks([task(0, [], null)], 10_000, 'state', 'j'), 10_000, 'nothing recorded: job.json');
  assert.throws(() => latenessOfTasks([task(0, [['meta!allowedLatenessMs', '0']]), task(1, [['pane!x!0', '[]']])], 10_000, 'state', 'j'), /built with different allowed lateness \(source-0: 0 ms, source-1: 10000 ms\)/, 'state without the key counts as job.json\'s');
});
