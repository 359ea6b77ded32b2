import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CatchUpCheckpoints } from '../../../src/runtime/catch-up.js';

const batchSize = 1_000;
const full = { clicks: batchSize, total: batchSize, batchSize, blocked: false };
const dry = { clicks: 0, total: 0, batchSize, blocked: false };
const some = (clicks: number, total = clicks) => ({ clicks, total, batchSize, blocked: false });
const releaseWithinMs = 12_000;
const rule = () => new CatchUpCheckpoints(200, 1_000, releaseWithinMs);

/** A rule after a catch-up whose last full batch was read at 1,000 ms: its end checkpointed, settled by 2,500 ms. */
function settledAfterCatchUp(): CatchUpCheckpoints {
  const catchUp = rule();
  catchUp.round(full, 1_000, 0);
  assert.equal(catchUp.round(dry, 1_200, 0), true);
  catchUp.checkpointed();
  assert.equal(catchUp.round(dry, 2_500, 1_200), false); // nothing came: settled, disarmed
  return catchUp;
}

test('the end of a catch-up checkpoints at once, and again once the merge stage has read the partials it released', () => {
  const catchUp = rule();
  let last = 0;
  assert.equal(catchUp.round(full, 1_000, last), false); // reading a backlog: no early checkpoint
  assert.equal(catchUp.round(some(400, 420), 1_050, last), false);
  assert.equal(catchUp.round(dry, 1_150, last), true); // ran dry with unsaved records
  catchUp.checkpointed();
  last = 1_150;
  assert.equal(catchUp.round(dry, 1_250, last), false); // the released partials are not there yet
  assert.equal(catchUp.round(some(0, 35), 1_300, last), false); // now they are
  assert.equal(catchUp.round(dry, 1_320, last), false); // too soon after the previous checkpoint
  assert.equal(catchUp.round(dry, 1_400, last), true);
  catchUp.checkpointed();
  last = 1_400;
  assert.equal(catchUp.round(some(3), 1_500, last), false);
  assert.equal(catchUp.round(dry, 1_700, last), false); // two per catch-up: the rest is the periodic schedule's
});

test('live clicks right after a catch-up do not keep it checkpointing every round', () => {
  const catchUp = rule();
  catchUp.round(full, 0, 0);
  let last = 0;
  let early = 0;
  for (let now = 100; now < 60_000; now += 100) {
    const read = (now / 100) % 2 === 0 ? some(5) : dry; // a trickle: a few clicks, then a dry round
    if (catchUp.round(read, now, last)) {
      early++;
      catchUp.checkpointed();
      last = now;
    }
  }
  assert.equal(early, 2);
});

test('live traffic in partial batches never asks for an early checkpoint', () => {
  const catchUp = rule();
  for (let round = 0; round < 1_000; round++) {
    const read = round % 3 === 0 ? dry : some(999);
    assert.equal(catchUp.round(read, round * 100, 0), false);
  }
});

test('an empty read while fetching is paused for backpressure is not the end of a catch-up', () => {
  const catchUp = rule();
  catchUp.round(full, 1_000, 0);
  assert.equal(catchUp.round({ ...dry, blocked: true }, 1_500, 0), false);
  assert.equal(catchUp.round({ ...dry, blocked: true }, 2_500, 0), false);
  assert.equal(catchUp.round(dry, 2_600, 0), true); // fetching again, and nothing came
});

test('a periodic checkpoint between the backlog and the dry round leaves nothing to checkpoint', () => {
  const catchUp = rule();
  catchUp.round(full, 1_000, 0);
  catchUp.checkpointed(); // the periodic one, at 1 000
  assert.equal(catchUp.round(dry, 2_000, 1_000), false); // clean, a second later: disarmed
  assert.equal(catchUp.round(some(10), 2_100, 1_000), false);
  assert.equal(catchUp.round(dry, 2_200, 1_000), false);
});

test('what idle partitions held for a checkpoint gets early checkpoints once merged: their panes, then their watermarks', () => {
  const catchUp = rule();
  catchUp.round(full, 1_000, 0);
  // The catch-up's two early checkpoints are spent.
  assert.equal(catchUp.round(dry, 1_200, 0), true);
  catchUp.checkpointed();
  assert.equal(catchUp.round(some(0, 20), 1_300, 1_200), false);
  assert.equal(catchUp.round(dry, 1_400, 1_200), true);
  catchUp.checkpointed();
  // A partition goes idle: its last panes go at once, the checkpoint that takes releases its watermark.
  catchUp.checkpointed();
  catchUp.heldReleased(3_000);
  assert.equal(catchUp.round(dry, 3_100, 3_000), false); // nothing merged yet: nothing to checkpoint
  assert.equal(catchUp.round(some(0, 12), 3_150, 3_000), false); // the merge member reads the panes
  assert.equal(catchUp.round(dry, 3_250, 3_000), true); // their tail, at once
  catchUp.checkpointed();
  assert.equal(catchUp.round(some(0, 4), 3_300, 3_250), false); // then the watermarks
  assert.equal(catchUp.round(dry, 3_500, 3_250), true);
  catchUp.checkpointed();
  // Two per release: live clicks after it keep the periodic schedule.
  assert.equal(catchUp.round(some(0, 3), 3_600, 3_500), false);
  assert.equal(catchUp.round(dry, 3_900, 3_500), false);
});

test('a release merged in one read gets one early checkpoint, and the rule disarms once settled', () => {
  const catchUp = settledAfterCatchUp();
  catchUp.checkpointed();
  catchUp.heldReleased(3_000);
  assert.equal(catchUp.round(some(0, 16), 3_050, 3_000), false);
  assert.equal(catchUp.round(dry, 3_250, 3_000), true);
  catchUp.checkpointed();
  // Nothing more came: settled, disarmed; a live click later waits for the periodic checkpoint.
  assert.equal(catchUp.round(dry, 5_000, 3_250), false);
  assert.equal(catchUp.round(some(0, 1), 5_100, 3_250), false);
  assert.equal(catchUp.round(dry, 5_400, 3_250), false);
});

test('long after a catch-up, a partition going idle keeps the periodic schedule (live traffic)', () => {
  const catchUp = settledAfterCatchUp();
  // Live clicks for a while; then a quiet partition is found idle, again and again.
  for (let at = 1_000 + releaseWithinMs + 1_000; at < 60_000; at += 5_000) {
    catchUp.checkpointed();
    catchUp.heldReleased(at);
    assert.equal(catchUp.round(some(3, 16), at + 50, at), false);
    assert.equal(catchUp.round(dry, at + 400, at), false);
  }
  // A new backlog arms the rule again, and its end's release with it.
  assert.equal(catchUp.round(full, 70_000, 60_000), false);
  assert.equal(catchUp.round(dry, 70_300, 60_000), true);
  catchUp.checkpointed();
  assert.equal(catchUp.round(dry, 71_500, 70_300), false); // settled
  catchUp.checkpointed();
  catchUp.heldReleased(72_000);
  assert.equal(catchUp.round(some(0, 8), 72_050, 72_000), false);
  assert.equal(catchUp.round(dry, 72_300, 72_000), true);
});

test('a release ends the catch-up up to releaseWithinMs after the backlog\'s last round, the partial batches of its tail included', () => {
  const rearmedBy = (releaseAtMs: number): boolean => {
    const catchUp = rule();
    catchUp.round(full, 1_000, 0);
    for (let at = 2_000; at <= 9_000; at += 1_000) assert.equal(catchUp.round(some(500), at, 0), false);
    assert.equal(catchUp.round(dry, 9_100, 0), true);
    catchUp.checkpointed();
    assert.equal(catchUp.round(dry, 10_500, 9_100), false); // settled
    catchUp.checkpointed();
    catchUp.heldReleased(releaseAtMs);
    assert.equal(catchUp.round(some(0, 10), releaseAtMs + 50, releaseAtMs), false);
    return catchUp.round(dry, releaseAtMs + 300, releaseAtMs);
  };
  assert.equal(rearmedBy(9_000 + releaseWithinMs), true);
  assert.equal(rearmedBy(9_000 + releaseWithinMs + 1), false);
});

test('the first early checkpoint of a catch-up is announced, the second (the merge stage\'s tail) is not', () => {
  const catchUp = rule();
  catchUp.round(full, 1_000, 0);
  assert.equal(catchUp.takeAnnouncement(), false); // nothing asked for yet
  assert.equal(catchUp.round(dry, 1_200, 0), true);
  assert.equal(catchUp.takeAnnouncement(), true);
  assert.equal(catchUp.takeAnnouncement(), false); // once
  catchUp.checkpointed();
  catchUp.round(some(0, 40), 1_300, 1_200);
  assert.equal(catchUp.round(dry, 1_450, 1_200), true);
  assert.equal(catchUp.takeAnnouncement(), false);
});

test('clicks read between the two early checkpoints of a catch-up: the second is announced too (their partials follow the first flags)', () => {
  const catchUp = rule();
  catchUp.round(full, 1_000, 0);
  assert.equal(catchUp.round(dry, 1_200, 0), true);
  assert.equal(catchUp.takeAnnouncement(), true);
  catchUp.checkpointed();
  catchUp.round(some(30, 70), 1_300, 1_200); // the last clicks, in a partial batch, and partials
  assert.equal(catchUp.round(dry, 1_450, 1_200), true);
  assert.equal(catchUp.takeAnnouncement(), true);
  catchUp.checkpointed();
  catchUp.round(some(4), 1_500, 1_450); // live clicks after it: the periodic schedule's
  assert.equal(catchUp.round(dry, 1_700, 1_450), false);
  assert.equal(catchUp.takeAnnouncement(), false);
});

test('a worker armed by another\'s tail announces nothing, even with clicks read', () => {
  const catchUp = settledAfterCatchUp();
  catchUp.tailArrived(9_000);
  catchUp.round(some(20, 60), 9_000, 2_000);
  assert.equal(catchUp.round(dry, 9_100, 2_000), true);
  assert.equal(catchUp.takeAnnouncement(), false);
});

test('another worker\'s tail arriving gets one early checkpoint, unannounced, once it is read', () => {
  const catchUp = settledAfterCatchUp();
  catchUp.tailArrived(9_000);
  assert.equal(catchUp.round(some(0, 60), 9_000, 2_000), false); // still reading it
  assert.equal(catchUp.round(dry, 9_100, 2_000), true);
  assert.equal(catchUp.takeAnnouncement(), false); // answering with an announcement would arm the other in turn
  catchUp.checkpointed();
  assert.equal(catchUp.round(some(0, 3), 9_200, 9_100), false);
  assert.equal(catchUp.round(dry, 9_400, 9_100), false); // one only: the rest is the periodic schedule's
});

test('a tail arriving while the worker\'s own catch-up ends changes nothing: it is announced and checkpointed twice', () => {
  const catchUp = rule();
  catchUp.round(full, 1_000, 0);
  catchUp.tailArrived(1_000); // the other worker's announcement, read in the same catch-up
  assert.equal(catchUp.round(dry, 1_200, 0), true);
  assert.equal(catchUp.takeAnnouncement(), true);
  catchUp.checkpointed();
  catchUp.tailArrived(1_300); // its own announcement, read back by its merge tasks
  catchUp.round(some(0, 40), 1_300, 1_200);
  assert.equal(catchUp.round(dry, 1_450, 1_200), true);
  assert.equal(catchUp.takeAnnouncement(), false);
  catchUp.checkpointed();
  catchUp.round(some(0, 8), 1_500, 1_450);
  assert.equal(catchUp.round(dry, 1_700, 1_450), false);
});

test('flagged markers written over and over (a replay, a hostile writer) arm the rule at most once per settle time', () => {
  const catchUp = settledAfterCatchUp();
  let last = 2_000;
  let early = 0;
  for (let now = 10_000; now < 20_000; now += 100) {
    catchUp.tailArrived(now); // a flagged marker in every read
    if (catchUp.round(some(0, 1), now, last)) early++;
    if (catchUp.round(dry, now + 50, last)) {
      early++;
      assert.equal(catchUp.takeAnnouncement(), false);
      catchUp.checkpointed();
      last = now + 50;
    }
  }
  assert.ok(early >= 5 && early <= 10, `one early checkpoint per settle time at most, ${early} in 10 s`);
});

test('a flag read less than the settle time after another is kept for the end of that time: the tail it ends is checkpointed early', () => {
  // A backlog arriving in bursts: the other worker announces the end of each, the last two 600 ms apart.
  const catchUp = settledAfterCatchUp();
  catchUp.tailArrived(9_000);
  catchUp.round(some(0, 60), 9_000, 2_000);
  assert.equal(catchUp.round(dry, 9_100, 2_000), true); // the first burst's tail
  catchUp.checkpointed();
  catchUp.tailArrived(9_600); // the last burst's end, read after that checkpoint
  assert.equal(catchUp.round(some(0, 40), 9_600, 9_100), false);
  assert.equal(catchUp.round(dry, 9_800, 9_100), false); // not yet: a settle time after the first
  assert.equal(catchUp.round(dry, 10_000, 9_100), true); // then the tail it ends is checkpointed
  assert.equal(catchUp.takeAnnouncement(), false);
  catchUp.checkpointed();
  assert.equal(catchUp.round(dry, 10_300, 10_000), false);
  assert.equal(catchUp.round(dry, 11_100, 10_000), false); // one only, and disarmed
  assert.equal(catchUp.round(some(0, 5), 11_200, 10_000), false);
  assert.equal(catchUp.round(dry, 11_300, 10_000), false);
});

test('a deferred flag is forgotten once a checkpoint has taken what was read', () => {
  const catchUp = settledAfterCatchUp();
  catchUp.tailArrived(9_000);
  catchUp.round(some(0, 60), 9_000, 2_000);
  assert.equal(catchUp.round(dry, 9_100, 2_000), true);
  catchUp.checkpointed();
  catchUp.tailArrived(9_600);
  catchUp.round(some(0, 40), 9_600, 9_100);
  catchUp.checkpointed(); // a periodic checkpoint takes the flag's tail
  assert.equal(catchUp.round(some(0, 5), 10_100, 9_700), false); // live partials after it
  assert.equal(catchUp.round(dry, 10_300, 9_700), false); // no early checkpoint for them
});

test('two workers reading each other\'s partials: the end of one catch-up costs a bounded number of checkpoints, then none', () => {
  // Each checkpoint releases partials to both workers' merge tasks (flagged markers among them
  // when it was announced), read in each worker's next round; then dry rounds.
  const workers = [{ rule: rule(), last: 0, checkpoints: 0, inbox: 0, flagged: false }, { rule: settledAfterCatchUp(), last: 2_000, checkpoints: 0, inbox: 0, flagged: false }];
  const [a] = workers;
  a!.rule.round(full, 10_000, 0); // worker a reads the end of its backlog
  a!.inbox = 0;
  let lastCheckpointAt = 0;
  for (let now = 10_100; now < 40_000; now += 100) {
    for (const worker of workers) {
      if (worker.flagged) worker.rule.tailArrived(now);
      const read = worker.inbox > 0 ? some(0, worker.inbox) : dry;
      worker.inbox = 0;
      worker.flagged = false;
      if (!worker.rule.round(read, now, worker.last)) continue;
      const announced = worker.rule.takeAnnouncement();
      worker.rule.checkpointed();
      worker.last = now;
      worker.checkpoints++;
      lastCheckpointAt = now;
      for (const to of workers) {
        to.inbox += 5;
        to.flagged ||= announced;
      }
    }
  }
  assert.ok(workers[0]!.checkpoints >= 1 && workers[0]!.checkpoints <= 3, `worker a: ${workers[0]!.checkpoints} early checkpoints`);
  assert.ok(workers[1]!.checkpoints >= 1 && workers[1]!.checkpoints <= 2, `worker b: ${workers[1]!.checkpoints} early checkpoints`);
  assert.ok(lastCheckpointAt < 15_000, `no early checkpoint long after the end (the last at ${lastCheckpointAt} ms)`);
});

test('a release at the end of a catch-up is announced as well: the held watermarks are the tail', () => {
  const catchUp = settledAfterCatchUp();
  catchUp.heldReleased(4_000); // within releaseWithinMs of the backlog's last round
  catchUp.round(some(0, 12), 4_100, 4_000);
  assert.equal(catchUp.round(dry, 4_300, 4_000), true);
  assert.equal(catchUp.takeAnnouncement(), true);
});
