// A worker killed inside an exactly-once checkpoint, after its offsets went into the transaction:
// until the broker aborts that transaction (its timeout), the group's committed offsets of those
// partitions cannot be read as stable, so their next owner cannot open their tasks. It must not
// wait for them inside the rebalance: a worker that joins meanwhile would wait with it (the
// group's next rebalance needs every member to poll), as CI once saw for five minutes. Here the
// heir holds such partitions paused while a third worker joins; the joiner must get its tasks
// before any of those partitions opens, and the output must still equal the oracle, once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { assertOutputEqualsOracle, createJob, oracleFor, produce, readOutput, startWorker, stopAll, waitForExit } from '../support/job.js';
import { collectLog, timeline, waitForLine, type LogLine } from '../support/worker-log.js';

test("exactly-once: partitions whose committed offsets a killed worker's open transaction holds wait paused; a worker joining meanwhile gets its tasks first; output equals the oracle, no duplicates", async () => {
  const job = await createJob('pending-open');
  const own = (name: string) => ['--exactly-once', '--state-dir', path.join(job.dir, name)];
  try {
    // A 10 s checkpoint interval gives its transactions a 40 s timeout: the time the rest of
    // the scenario has (it needs about 15 s: the dead member's 10 s session, two joins).
    const victim = startWorker(job, [...own('victim'), '--checkpoint-interval', '10s'], { CLICKSTREAM_CRASH_AT: 'eos-after-send-offsets:1' });
    const producing = produce(job, ['--rate', '4000', '--count', '60000', '--event-rate', '1000', '--seed', '57', '--key', 'user', '--late-share', '0.01']);
    assert.equal(await waitForExit(victim, 60_000), 'SIGKILL', 'the victim crashed inside its transaction');

    const heir = startWorker(job, own('heir'), { CLICKSTREAM_LOG: 'info' });
    const heirLog = collectLog(heir);
    const waiting = await waitForLine(heirLog, (line) => line.msg === 'assigned' && (line.waitingToOpen?.length ?? 0) > 0, 60_000, 'the heir assigned partitions whose offsets are unreadable');
    const stuck = new Set(waiting.waitingToOpen);

    const joiner = startWorker(job, own('joiner'), { CLICKSTREAM_LOG: 'info' });
    const joinerLog = collectLog(joiner);
    const joined = await waitForLine(joinerLog, (line) => line.msg === 'assigned' && ((line.partitions?.length ?? 0) > 0 || (line.waitingToOpen?.length ?? 0) > 0), 60_000, 'the joiner got tasks');

    const expected = oracleFor(await producing);
    const output = await readOutput(job, expected);
    assertOutputEqualsOracle(output, expected);
    assert.equal(output.duplicates, 0, 'a read_committed reader sees each window once');

    // When did a stuck partition's task first open, on either worker?
    const opensStuck = (line: LogLine) => (line.msg === 'assigned' || line.msg === 'repositioned') && (line.partitions ?? []).some((p) => stuck.has(`${p.topic}-${p.partition}`));
    const opened = [...heirLog, ...joinerLog].filter(opensStuck).map((line) => line.ts).sort()[0];
    assert.ok(opened !== undefined, `a task of ${[...stuck].join(', ')} opened`);
    assert.ok(joined.ts < opened, `the joiner got its tasks (${joined.ts}) before the stuck partitions' tasks opened (${opened}): the heir kept serving the group meanwhile\n${timeline({ heir: heirLog, joiner: joinerLog })}`);
  } finally {
    await stopAll(job);
  }
});
