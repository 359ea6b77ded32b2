import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutageTracker } from '../../../src/runtime/outage.js';

test('an outage is reported once when it begins and once when it ends, with its length', () => {
  const outage = new OutageTracker(1_000);
  assert.equal(outage.succeeded(0), undefined, 'no outage to end');
  assert.equal(outage.failed(1_000), false, 'one failure is not an outage yet');
  assert.equal(outage.failed(2_000), true, 'failures lasting the grace period begin the outage');
  for (let t = 3_000; t < 31_000; t += 1_000) assert.equal(outage.failed(t), false, 'retries are not reported again');
  assert.equal(outage.inOutage, true);
  assert.deepEqual(outage.succeeded(31_500), { durationMs: 30_500, failures: 30 });
  assert.equal(outage.inOutage, false);
  assert.equal(outage.succeeded(32_000), undefined, 'the end is reported once');
  assert.equal(outage.failed(40_000), false);
  assert.equal(outage.succeeded(40_050), undefined, 'a blip shorter than the grace period is neither begun nor ended');
  assert.equal(outage.failed(50_000), false);
  assert.equal(outage.failed(51_000), true, 'a later outage is a new one');
});
