// A worker killed (SIGKILL, as by a power cut) at each named point of the checkpoint protocol,
// in both delivery modes, then restarted: the output must equal the oracle. In exactly-once mode
// a read_committed reader must also see every window exactly once: no duplicate at all.
// The crash is armed for the third checkpoint that carries new input, mid-stream.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crashPoints, type CrashPoint } from '../../src/runtime/crash-points.js';
import { assertOutputEqualsOracle, createJob, oracleFor, produce, readOutput, startWorker, stopAll, waitForExit } from '../support/job.js';

/** What the restarted worker must do with the checkpoint the crash left staged in LevelDB. */
const stagedOutcome: Partial<Record<CrashPoint, string>> = {
  'eos-after-stage': 'staged checkpoint discarded', // its transaction never committed
  'eos-after-send-offsets': 'staged checkpoint discarded',
  'eos-after-commit': 'staged checkpoint promoted', // Kafka holds its outputs and offsets
};

for (const point of crashPoints) {
  const exactlyOnce = point.startsWith('eos-');
  test(`crash at ${point}, then a restart: output equals the oracle${exactlyOnce ? ', no duplicates' : ''}`, async () => {
    const job = await createJob(`crash-${point}`);
    try {
      const mode = exactlyOnce ? ['--exactly-once'] : [];
      const victim = startWorker(job, [...mode, '--checkpoint-interval', '500ms'], { CLICKSTREAM_CRASH_AT: `${point}:3` });
      const producing = produce(job, ['--rate', '8000', '--count', '40000', '--event-rate', '1000', '--seed', '31', '--key', 'user', '--late-share', '0.01']);
      assert.equal(await waitForExit(victim, 60_000), 'SIGKILL', `the worker crashed at ${point}`);
      const restarted = startWorker(job, mode, { CLICKSTREAM_LOG: 'info' });
      let log = '';
      restarted.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
      const expected = oracleFor(await producing);
      const output = await readOutput(job, expected);
      assertOutputEqualsOracle(output, expected);
      const outcome = stagedOutcome[point];
      if (outcome !== undefined) assert.ok(log.includes(outcome), `the restarted worker logs "${outcome}"`);
      else assert.ok(!log.includes('staged checkpoint'), 'no staged checkpoint was left behind');
      if (exactlyOnce) assert.equal(output.duplicates, 0, 'a read_committed reader sees each window once');
    } finally {
      await stopAll(job);
    }
  });
}
