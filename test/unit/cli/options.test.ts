import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { duration, nonNegativeInt, offOrDurationIn, positiveInt, share } from '../../../src/cli/options.js';

test('durations accept ms, s, m, h and plain seconds', () => {
  assert.equal(duration('500ms'), 500);
  assert.equal(duration('10s'), 10_000);
  assert.equal(duration('2m'), 120_000);
  assert.equal(duration('1.5'), 1_500);
  assert.throws(() => duration('ten'), InvalidArgumentError);
});

test('numbers are checked, not coerced', () => {
  assert.equal(nonNegativeInt('0'), 0);
  assert.throws(() => nonNegativeInt('-1'), InvalidArgumentError);
  assert.throws(() => nonNegativeInt('1e3'), InvalidArgumentError);
  assert.throws(() => positiveInt('0'), InvalidArgumentError);
  assert.equal(share('0.25'), 0.25);
  assert.throws(() => share('1.5'), InvalidArgumentError);
  assert.throws(() => share(''), InvalidArgumentError);
});

test('a duration that may be off: 0, or within its range', () => {
  const drift = offOrDurationIn(60_000, 86_400_000);
  assert.equal(drift('0'), 0);
  assert.equal(drift('0s'), 0);
  assert.equal(drift('1m'), 60_000);
  assert.equal(drift('24h'), 86_400_000);
  assert.throws(() => drift('59s'), /expected 0 \(off\) or a duration from 1m to 24h/);
  assert.throws(() => drift('25h'), InvalidArgumentError);
  assert.throws(() => drift('soon'), InvalidArgumentError);
});
