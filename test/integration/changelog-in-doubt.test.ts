// A job that ran a while with --no-changelog moved the group's committed offsets past the
// checkpoints its changelog shows. A worker started with the changelog again cannot tell at once
// whether the changelog's markers are merely late (the transaction that wrote both is still
// ending) or were never written: each task waits for them, for changelogInDoubtWaitMs (30 s), and
// is then rebuilt from the changelog's last checkpoint and replays from there. Those waits must
// not hold the group's rebalance (once, eight tasks waited 30 s each inside it): a worker joining
// meanwhile gets its tasks before the first wait ends, and the output still equals the oracle.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { assertOutputEqualsOracle, createJob, oracleFor, produce, readOutput, startWorker, stopAll, stopWorker } from '../support/job.js';
import { collectLog, timeline, waitForLine } from '../support/worker-log.js';
import { freePort } from '../support/own-broker.js';
import type { JobSnapshot } from '../../src/http/job-view.js';

const IN_DOUBT = 'the changelog does not show the checkpoint the committed offset names';

/** Whether the dashboard's view satisfied `holds` within `timeoutMs`. */
async function waitForDashboard(port: number, holds: (view: JobSnapshot) => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (holds((await (await fetch(`http://127.0.0.1:${port}/api/job`)).json()) as JobSnapshot)) return true;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return false;
}

test('tasks whose changelog does not show their committed checkpoint wait paused, not inside the rebalance; a worker joining meanwhile gets its tasks first; output equals the oracle', async () => {
  const job = await createJob('changelog-in-doubt');
  const stateDir = path.join(job.dir, 'first');
  try {
    const producing = produce(job, ['--rate', '3000', '--count', '60000', '--event-rate', '1000', '--seed', '61', '--key', 'user', '--late-share', '0.01']);

    // With the changelog, then without it on the same state dir: the group's offsets move on,
    // the changelog's last markers stay behind.
    const withChangelog = startWorker(job, ['--state-dir', stateDir], { CLICKSTREAM_LOG: 'info' });
    await waitForLine(collectLog(withChangelog), (line) => line.msg === 'assigned', 60_000, 'the first worker got its tasks');
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    await stopWorker(withChangelog);
    const without = startWorker(job, ['--state-dir', stateDir, '--no-changelog']);
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    await stopWorker(without);

    const port = await freePort();
    const returning = startWorker(job, ['--state-dir', stateDir, '--dashboard', '--http-port', String(port)], { CLICKSTREAM_LOG: 'info' });
    const returningLog = collectLog(returning);
    const waiting = await waitForLine(returningLog, (line) => line.msg === 'assigned' && (line.waitingToOpen?.length ?? 0) > 0, 60_000, 'the returning worker assigned partitions whose tasks wait for the changelog');
    assert.ok(!returningLog.some((line) => line.msg === IN_DOUBT), 'no task gave up waiting yet');

    const joiner = startWorker(job, ['--state-dir', path.join(job.dir, 'joiner')], { CLICKSTREAM_LOG: 'info' });
    const joinerLog = collectLog(joiner);
    const joined = await waitForLine(joinerLog, (line) => line.msg === 'assigned' && ((line.partitions?.length ?? 0) > 0 || (line.waitingToOpen?.length ?? 0) > 0), 60_000, 'the joiner got tasks');

    // The dashboard shows which tasks wait, and why (from the workers' statuses); the returning
    // worker's metrics count its own (its share is still waiting: the joiner took only some).
    const shown = await waitForDashboard(port, (view) => view.workers.some((w) => w.waiting.some((t) => t.reason.includes('does not show the checkpoint'))), 20_000);
    assert.ok(shown, 'the dashboard lists the tasks waiting for the changelog');
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const waitingGauge = Number(/^clickstream_tasks_waiting_to_open\{[^}]*\} (\d+)$/m.exec(metrics)?.[1]);
    const gaugeRead = new Date().toISOString();
    const openedBefore = returningLog.some((line) => line.msg === IN_DOUBT && line.ts < gaugeRead);
    assert.ok(waitingGauge > 0 || openedBefore, `the metrics count the tasks waiting to open (${waitingGauge})`);

    const expected = oracleFor(await producing);
    const output = await readOutput(job, expected);
    assertOutputEqualsOracle(output, expected);

    const logs = { returning: returningLog, joiner: joinerLog };
    const gaveUp = [...returningLog, ...joinerLog].filter((line) => line.msg === IN_DOUBT).map((line) => line.ts).sort();
    assert.ok(gaveUp.length > 0, `a task stopped waiting for the changelog and was rebuilt from it\n${timeline(logs)}`);
    assert.ok(joined.ts < gaveUp[0]!, `the joiner got its tasks (${joined.ts}) before the first wait for the changelog ended (${gaveUp[0]}): the returning worker kept serving the group meanwhile (waiting: ${waiting.waitingToOpen!.join(', ')})\n${timeline(logs)}`);
  } finally {
    await stopAll(job);
  }
});
