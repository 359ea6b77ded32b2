// When a task waits to open, and for how long each reason may hold it (pure decisions).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WaitClocks } from '../../../src/runtime/not-ready.js';
import { markerVerdict } from '../../../src/runtime/tasks.js';
import { tunables } from '../../../src/config.js';

test('each reason a task waits for has its own clock, started by its first refusal', () => {
  const clocks = new WaitClocks();
  assert.equal(clocks.waitedMs('store', 1_000), 0, 'never refused: no wait');
  clocks.refused('store', 1_000);
  clocks.refused('store', 5_000); // a later refusal does not restart it
  assert.equal(clocks.waitedMs('store', 41_000), 40_000);
  assert.equal(clocks.waitedMs('changelog', 41_000), 0, 'the store\'s wait is not the changelog\'s');
  clocks.refused('changelog', 41_000);
  assert.equal(clocks.waitedMs('changelog', 50_000), 9_000);
  assert.equal(clocks.waitedMs('changelog', 40_000), 0, 'a clock that went back counts no wait');
});

test('the changelog\'s last marker is used once it names the committed offset; until then the task waits, at most changelogInDoubtWaitMs', () => {
  const stamp = { seq: 7, writer: 'w', nextOffset: 100 };
  const limit = tunables.changelogInDoubtWaitMs;
  assert.equal(markerVerdict(stamp, 100, 80, 0), 'use', 'they agree');
  assert.equal(markerVerdict(stamp, undefined, undefined, 0), 'use', 'no committed offset: nothing to agree with');
  assert.equal(markerVerdict(undefined, 100, 100, 0), 'use', 'an empty changelog beside a store at the committed offset seeds it');
  assert.equal(markerVerdict(stamp, 120, 100, 0), 'wait', 'the transaction\'s markers may still be written');
  assert.equal(markerVerdict(undefined, 120, 100, limit - 1), 'wait');
  assert.equal(markerVerdict(stamp, 120, 100, limit), 'give up', 'past the limit: committed without the changelog');
});
