import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutageTracker } from '../../../src/runtime/outage.js';
import { parseCrashPlan } from '../../../src/runtime/crash-points.js';

test('an outage is reported once when it begins and once when it ends, with its length', () => {
  const outage = new OutageTracker();
  assert.equal(outage.succeeded(0), undefined, 'no outage to end');
  assert.equal(outage.failed(1_000), true, 'the first failure begins the outage');
  for (let t = 2_000; t < 31_000; t += 1_000) assert.equal(outage.failed(t), false, 'retries are not reported again');
  assert.equal(outage.inOutage, true);
  assert.deepEqual(outage.succeeded(31_500), { durationMs: 30_500, failures: 30 });
  assert.equal(outage.inOutage, false);
  assert.equal(outage.succeeded(32_000), undefined, 'the end is reported once');
  assert.equal(outage.failed(40_000), true, 'a later outage is a new one');
});

test('crash plans: a point with an optional count; a typo is an error, not a silent no-op', () => {
  assert.equal(parseCrashPlan(undefined), undefined);
  assert.equal(parseCrashPlan(''), undefined);
  assert.deepEqual(parseCrashPlan('eos-after-commit'), { point: 'eos-after-commit', nth: 1 });
  assert.deepEqual(parseCrashPlan('after-flush:3'), { point: 'after-flush', nth: 3 });
  assert.throws(() => parseCrashPlan('after-comit'), /unknown point "after-comit"/);
  assert.throws(() => parseCrashPlan('after-flush:0'), /positive integer/);
});
