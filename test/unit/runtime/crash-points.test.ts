import { test } from 'node:test';
import assert from 'node:assert/strict';
import { armCrashPoint, crashPoint, parseCrashPlan, parseStallMs } from '../../../src/runtime/crash-points.js';

test('crash plans: a point with an optional count; a typo is an error, not a silent no-op', () => {
  assert.equal(parseCrashPlan(undefined), undefined);
  assert.equal(parseCrashPlan(''), undefined);
  assert.deepEqual(parseCrashPlan('eos-after-commit'), { point: 'eos-after-commit', nth: 1 });
  assert.deepEqual(parseCrashPlan('after-flush:3'), { point: 'after-flush', nth: 3 });
  assert.throws(() => parseCrashPlan('after-comit'), /unknown point "after-comit"/);
  assert.throws(() => parseCrashPlan('after-flush:0'), /positive integer/);
});

test('a stall instead of a crash: a whole number of milliseconds, up to ten minutes; anything else is an error', () => {
  assert.equal(parseStallMs(undefined), undefined);
  assert.equal(parseStallMs(''), undefined);
  assert.equal(parseStallMs('25000'), 25_000);
  for (const bad of ['0', '-5', '1.5', '25s', '600001']) assert.throws(() => parseStallMs(bad), /CLICKSTREAM_STALL_MS/, bad);
});

test('an armed point fires the n-th time a checkpoint with new input reaches it, and only then', () => {
  const fired: string[] = [];
  armCrashPoint({ point: 'after-flush', nth: 2 }, (point, nth) => void fired.push(`${point}:${nth}`));
  try {
    crashPoint('after-flush', false); // no new input: not counted
    crashPoint('after-state-batch', true); // another point
    crashPoint('after-flush', true);
    assert.deepEqual(fired, []);
    crashPoint('after-flush', true);
    assert.deepEqual(fired, ['after-flush:2']);
    crashPoint('after-flush', true);
    assert.deepEqual(fired, ['after-flush:2'], 'only the n-th time (a stall survives it)');
  } finally {
    armCrashPoint(undefined);
  }
  crashPoint('after-flush', true);
  assert.deepEqual(fired, ['after-flush:2'], 'disarmed');
});
