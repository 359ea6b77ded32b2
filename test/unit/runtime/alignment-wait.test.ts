import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AlignmentWaitCheckpoints } from '../../../src/runtime/alignment-wait.js';

/** Feeds a round and, when the rule asks for one, takes the checkpoint at `nowMs`. */
function roundAt(rule: AlignmentWaitCheckpoints, clicks: number, waiting: boolean, nowMs: number, last: { at: number }): boolean {
  const due = rule.round(clicks, waiting, nowMs, last.at);
  if (due) {
    rule.checkpointed();
    last.at = nowMs;
  }
  return due;
}

test('a worker whose sources all wait for alignment checkpoints as the wait begins, then not again while it reads no clicks', () => {
  const rule = new AlignmentWaitCheckpoints(200);
  const last = { at: 0 };
  assert.equal(roundAt(rule, 1_000, false, 1_000, last), false); // reading: the other rules' business
  assert.equal(roundAt(rule, 0, true, 1_100, last), true); // the wait begins: commit what is open
  assert.equal(roundAt(rule, 0, true, 1_400, last), false); // nothing read since
  assert.equal(roundAt(rule, 0, true, 5_000, last), false);
  assert.equal(roundAt(rule, 0, false, 5_100, last), false); // resumed
  assert.equal(roundAt(rule, 0, true, 5_200, last), true); // a new wait
});

test('clicks prefetched before the pause and read during the wait are checkpointed too, at most once per gap', () => {
  const rule = new AlignmentWaitCheckpoints(200);
  const last = { at: 0 };
  assert.equal(roundAt(rule, 0, true, 1_000, last), true);
  assert.equal(roundAt(rule, 300, true, 1_100, last), false); // too soon after the last
  assert.equal(roundAt(rule, 200, true, 1_200, last), true); // their partials opened a transaction
  assert.equal(roundAt(rule, 0, true, 1_500, last), false); // drained: nothing more
  assert.equal(roundAt(rule, 0, true, 9_000, last), false);
});

test('watermarks an idle partition held, released after a checkpoint during the wait, are checkpointed too', () => {
  // One partition waits for alignment, the other went idle: the checkpoint that made its idle
  // close durable sends its held watermark, into the next transaction.
  const rule = new AlignmentWaitCheckpoints(200);
  const last = { at: 0 };
  assert.equal(roundAt(rule, 0, true, 1_000, last), true);
  rule.partialsSent(); // released after that checkpoint completed
  assert.equal(roundAt(rule, 0, true, 1_100, last), false); // too soon after the last
  assert.equal(roundAt(rule, 0, true, 1_200, last), true);
  assert.equal(roundAt(rule, 0, true, 1_500, last), false); // nothing more
});

test('a wait that begins right after a checkpoint waits for the least gap; one taken during the wait for another reason counts', () => {
  const rule = new AlignmentWaitCheckpoints(200);
  assert.equal(rule.round(0, true, 1_050, 1_000), false); // the last checkpoint is 50 ms old
  assert.equal(rule.round(0, true, 1_200, 1_000), true);
  const other = new AlignmentWaitCheckpoints(200);
  assert.equal(other.round(0, true, 3_000, 2_900), false);
  other.checkpointed(); // a periodic checkpoint, say, at 3,050
  assert.equal(other.round(0, true, 3_300, 3_050), false);
});
