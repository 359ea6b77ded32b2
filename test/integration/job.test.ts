// The streaming job against the real broker: 4 partitions, 2 workers, seeded streams with
// out-of-order and late clicks. Every output topic, deduplicated by (window, key), must equal the
// oracle computed from the producer's log; any duplicate must be byte-identical.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertOutputEqualsOracle, createJob, oracleFor, produce, readOutput, startWorker, stopAll, stopWorker } from '../support/job.js';
import { readTopic, waitForCommittedEnd } from '../support/kafka.js';

const idleLongerThanStart = ['--idle-timeout', '10s'];

test('keyed by url, produced while 2 workers run: output equals the oracle', async () => {
  const job = await createJob('job-url');
  try {
    // Idle timeout above the 3 s before the clicks come: a partition idle from the start lets
    // the others close windows before its first clicks arrive (then late at merge, by design).
    startWorker(job, idleLongerThanStart);
    startWorker(job, idleLongerThanStart);
    await sleep(3_000);
    const log = await produce(job, ['--rate', '20000', '--count', '60000', '--event-rate', '1000', '--seed', '21', '--key', 'url', '--late-share', '0.01', '--max-disorder', '8s']);
    const expected = oracleFor(log);
    assert.ok(expected.late > 100, `the stream has late clicks (${expected.late})`);
    const output = await readOutput(job, expected);
    assertOutputEqualsOracle(output, expected);
    const late = await readTopic(job.topics.late, 4, expected.late);
    assert.equal(late.length, expected.late, 'every late click is on clicks-late');
    assert.match(String(late[0]!.headers?.find((h) => 'reason' in h)?.reason), /closed at watermark/);
    // Lateness per window: most late clicks still count in their minute; the header names what each missed.
    const missed = new Map<string, number>();
    for (const message of late) {
      const kinds = String(message.headers?.find((h) => 'missed' in h)?.missed);
      missed.set(kinds, (missed.get(kinds) ?? 0) + 1);
    }
    assert.deepEqual(missed, expected.missed);
    assert.ok((expected.missed.get('counts,total') ?? 0) > 0, 'the stream has clicks late for their pane that the minute counts');
  } finally {
    await stopAll(job);
  }
});

test('keyed at random, a backlog read by 2 workers: output equals the oracle', async () => {
  const job = await createJob('job-none');
  try {
    const log = await produce(job, ['--rate', '0', '--count', '80000', '--event-rate', '500', '--seed', '22', '--key', 'none', '--late-share', '0.01']);
    startWorker(job);
    startWorker(job);
    const expected = oracleFor(log);
    assertOutputEqualsOracle(await readOutput(job, expected), expected);
  } finally {
    await stopAll(job);
  }
});

test('kill -9 of a worker mid-run, then a restart: output equals the oracle', async () => {
  const job = await createJob('job-kill');
  try {
    const victim = startWorker(job, idleLongerThanStart);
    startWorker(job, idleLongerThanStart);
    await sleep(3_000);
    const producing = produce(job, ['--rate', '15000', '--count', '90000', '--event-rate', '1000', '--seed', '23', '--key', 'user', '--late-share', '0.01']);
    await sleep(2_500);
    await stopWorker(victim, 'SIGKILL');
    await sleep(1_000);
    startWorker(job);
    const expected = oracleFor(await producing);
    const output = await readOutput(job, expected);
    assertOutputEqualsOracle(output, expected);
  } finally {
    await stopAll(job);
  }
});

test('a worker stopped mid-run hands its partitions to the other: output equals the oracle', async () => {
  const job = await createJob('job-stop');
  try {
    const leaving = startWorker(job, idleLongerThanStart);
    startWorker(job, idleLongerThanStart);
    await sleep(3_000);
    const producing = produce(job, ['--rate', '15000', '--count', '75000', '--event-rate', '1000', '--seed', '25', '--key', 'url', '--late-share', '0.01']);
    await sleep(2_000);
    await stopWorker(leaving, 'SIGTERM');
    assert.equal(leaving.exitCode, 0, 'a stopped worker exits cleanly after its final checkpoint');
    const expected = oracleFor(await producing);
    assertOutputEqualsOracle(await readOutput(job, expected), expected);
  } finally {
    await stopAll(job);
  }
});

test('a quiet stream: a burst, then nothing; every window of the burst is still emitted', async () => {
  const job = await createJob('job-quiet');
  try {
    startWorker(job);
    startWorker(job);
    await sleep(3_000);
    // No late clicks: the partitions may be idle when the burst comes (3 s idle timeout), and a
    // late click of one that wakes after the others ran ahead would be closed out at the merge
    // (the start-up race of the README's "idle partitions", which the oracle does not model).
    const log = await produce(job, ['--rate', '0', '--count', '3000', '--event-rate', '200', '--seed', '24', '--key', 'url', '--late-share', '0']);
    const producedAt = Date.now();
    const expected = oracleFor(log);
    const output = await readOutput(job, expected);
    assertOutputEqualsOracle(output, expected);
    // Liveness, not speed: with a 3 s idle timeout the windows come without any newer click.
    assert.ok(Date.now() - producedAt < 30_000, 'windows closed while the stream was quiet');
  } finally {
    await stopAll(job);
  }
});

// The longest interval the flag takes (10 min) also checks that the changelog's transaction
// timeout stays within what the broker allows (asking for 3 intervals failed at start).
test('a worker that has read a backlog commits it when it runs dry, not at its next (10 min) checkpoint; output equals the oracle', async () => {
  const job = await createJob('job-caught-up');
  try {
    const log = await produce(job, ['--rate', '0', '--count', '40000', '--event-rate', '1000', '--seed', '25', '--key', 'url']);
    startWorker(job, ['--checkpoint-interval', '10m']);
    // Behaviour, not speed: the only checkpoint this worker takes within the minute is the one
    // for running dry after full batches (the periodic one is 10 minutes away).
    const { committed, end } = await waitForCommittedEnd(job.jobId, job.topics.clicks, 4, 60_000);
    assert.deepEqual(committed, end, 'every click offset committed once the backlog was read');
    const expected = oracleFor(log);
    assertOutputEqualsOracle(await readOutput(job, expected), expected);
  } finally {
    await stopAll(job);
  }
});

// Allowed lateness: late clicks (25-55 s behind the newest, so 5-35 s behind the watermark) fall
// within 10 s of some windows' ends and beyond others'. Every window's highest revision is final
// and equals the oracle; a kill -9 replays revisions byte-identical (at-least-once) or never
// repeats one (exactly-once).
for (const exactlyOnce of [false, true]) {
  test(`allowed lateness 10 s, kill -9 of a worker mid-run${exactlyOnce ? ', exactly-once' : ''}: the final revision of every window equals the oracle`, async () => {
    const job = await createJob(exactlyOnce ? 'job-lateness-eos' : 'job-lateness');
    try {
      const flags = [...idleLongerThanStart, '--allowed-lateness', '10s', ...(exactlyOnce ? ['--exactly-once'] : [])];
      const victim = startWorker(job, flags);
      startWorker(job, flags);
      await sleep(3_000);
      const producing = produce(job, ['--rate', '15000', '--count', '90000', '--event-rate', '1000', '--seed', exactlyOnce ? '27' : '26', '--key', 'user', '--late-share', '0.02']);
      await sleep(2_500);
      await stopWorker(victim, 'SIGKILL');
      await sleep(1_000);
      startWorker(job, flags);
      const log = await producing;
      const expected = oracleFor(log, { allowedLatenessMs: 10_000 });
      const withoutLateness = oracleFor(log);
      assert.ok(expected.late < withoutLateness.late, `the allowed lateness takes late clicks (${withoutLateness.late - expected.late} of ${withoutLateness.late})`);
      assert.ok(expected.late > 0, 'some clicks are beyond it');
      const output = await readOutput(job, expected);
      assertOutputEqualsOracle(output, expected);
      assert.ok(output.revisions > 0, 'corrections and final results were emitted');
      if (exactlyOnce) assert.equal(output.duplicates, 0, 'exactly-once: no revision twice');
      const late = await readTopic(job.topics.late, 4, expected.late);
      // At-least-once replays what the killed worker had not checkpointed: clicks-late may repeat some.
      if (exactlyOnce) assert.equal(late.length, expected.late, 'every click beyond the allowed lateness is on clicks-late, once');
      else assert.ok(late.length >= expected.late, 'every click beyond the allowed lateness is on clicks-late');
    } finally {
      await stopAll(job);
    }
  });
}
