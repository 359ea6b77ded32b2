import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CatchUpCheckpoints } from '../../../src/runtime/catch-up.js';

const batchSize = 1_000;
const full = { clicks: batchSize, total: batchSize, batchSize };
const dry = { clicks: 0, total: 0, batchSize };
const rule = () => new CatchUpCheckpoints(200, 1_000);

test('the end of a catch-up checkpoints at once, and again once the merge stage has read the partials it released', () => {
  const catchUp = rule();
  let last = 0;
  assert.equal(catchUp.round(full, 1_000, last), false); // reading a backlog: no early checkpoint
  assert.equal(catchUp.round({ clicks: 400, total: 420, batchSize }, 1_050, last), false);
  assert.equal(catchUp.round(dry, 1_150, last), true); // ran dry with unsaved records
  catchUp.checkpointed();
  last = 1_150;
  assert.equal(catchUp.round(dry, 1_250, last), false); // the released partials are not there yet
  assert.equal(catchUp.round({ clicks: 0, total: 35, batchSize }, 1_300, last), false); // now they are
  assert.equal(catchUp.round(dry, 1_320, last), false); // too soon after the previous checkpoint
  assert.equal(catchUp.round(dry, 1_400, last), true);
  catchUp.checkpointed();
  last = 1_400;
  assert.equal(catchUp.round(dry, 1_700, last), false);
  assert.equal(catchUp.round(dry, 2_500, last), false); // nothing new for a second: disarmed
  assert.equal(catchUp.round({ clicks: 3, total: 3, batchSize }, 2_600, last), false);
  assert.equal(catchUp.round(dry, 2_800, last), false); // live trickle: the periodic schedule's business
});

test('live traffic in partial batches never asks for an early checkpoint', () => {
  const catchUp = rule();
  for (let round = 0; round < 1_000; round++) {
    const read = round % 3 === 0 ? dry : { clicks: 999, total: 999, batchSize };
    assert.equal(catchUp.round(read, round * 100, 0), false);
  }
});

test('a periodic checkpoint between the backlog and the dry round leaves nothing to checkpoint', () => {
  const catchUp = rule();
  catchUp.round(full, 1_000, 0);
  catchUp.checkpointed(); // the periodic one, at 1 000
  assert.equal(catchUp.round(dry, 2_000, 1_000), false); // clean, a second later: disarmed
  assert.equal(catchUp.round({ clicks: 10, total: 10, batchSize }, 2_100, 1_000), false);
  assert.equal(catchUp.round(dry, 2_200, 1_000), false);
});
