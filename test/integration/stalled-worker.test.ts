// A worker whose JS thread stops dead (a long GC pause, a starved CPU) in the middle of a
// checkpoint, for longer than max.poll.interval.ms: librdkafka takes it out of the group, and the
// other worker, on the same state dir, is given its partitions while the stalled one still holds
// their stores. The heir must wait for those stores with the partitions paused (not inside the
// rebalance), the stalled worker must find its checkpoint fenced, rejoin instead of crashing, and
// get tasks again; the output must equal the oracle (exactly-once: once).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertOutputEqualsOracle, createJob, oracleFor, produce, readOutput, startWorker, stopAll } from '../support/job.js';
import { collectLog, timeline, waitForLine } from '../support/worker-log.js';

const LEFT = 'left the group: the loop did not poll within max.poll.interval.ms; rejoining';

for (const mode of [[], ['--exactly-once']]) {
  const exactlyOnce = mode.length > 0;
  test(`${exactlyOnce ? 'exactly-once' : 'at-least-once'}: a worker stalled past max.poll.interval.ms mid-checkpoint loses its partitions to the other worker of its state dir, which waits for the stores paused; the stalled one rejoins; output equals the oracle`, async () => {
    const job = await createJob(`stalled-${exactlyOnce ? 'eos' : 'alo'}`);
    try {
      const producing = produce(job, ['--rate', '3000', '--count', '60000', '--event-rate', '1000', '--seed', '67', '--key', 'user', '--late-share', '0.01']);
      // The fourth checkpoint carrying input stalls 25 s; the group gives up on it after 10 s.
      const stalled = startWorker(job, mode, {
        CLICKSTREAM_LOG: 'info',
        CLICKSTREAM_CRASH_AT: exactlyOnce ? 'eos-after-stage:4' : 'after-flush:4',
        CLICKSTREAM_STALL_MS: '25000',
        CLICKSTREAM_MAX_POLL_INTERVAL_MS: '10000',
      });
      const stalledLog = collectLog(stalled);
      const other = startWorker(job, mode, { CLICKSTREAM_LOG: 'info' });
      const otherLog = collectLog(other);
      const logs = { stalled: stalledLog, other: otherLog };

      const stallStart = await waitForLine(stalledLog, (line) => line.msg === 'stalling on purpose', 90_000, 'the stall began');
      const left = await waitForLine(stalledLog, (line) => line.msg === LEFT, 90_000, 'the stalled worker left the group and rejoined').catch((err: Error) => {
        throw new Error(`${err.message}\n${timeline(logs)}`);
      });
      await waitForLine(otherLog, (line) => line.ts > stallStart.ts && line.msg.startsWith('the task cannot open yet') && String(line.reason).includes('still held by the previous owner'), 60_000, 'the other worker was given partitions whose stores the stalled worker held').catch((err: Error) => {
        throw new Error(`${err.message}\n${timeline(logs)}`);
      });
      await waitForLine(stalledLog, (line) => line.ts > left.ts && line.msg === 'assigned' && ((line.partitions?.length ?? 0) > 0 || (line.waitingToOpen?.length ?? 0) > 0), 90_000, 'the stalled worker got tasks again').catch((err: Error) => {
        throw new Error(`${err.message}\n${timeline(logs)}`);
      });

      const expected = oracleFor(await producing);
      const output = await readOutput(job, expected);
      try {
        assertOutputEqualsOracle(output, expected);
      } catch (err) {
        (err as Error).message += `\n${timeline(logs)}`;
        throw err;
      }
      if (exactlyOnce) assert.equal(output.duplicates, 0, 'a read_committed reader sees each window once');
      assert.equal(stalled.exitCode, null, 'the stalled worker is still running');
      assert.equal(other.exitCode, null, 'the other worker is still running');
    } finally {
      await stopAll(job);
    }
  });
}
