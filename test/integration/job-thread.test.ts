// --job-thread: the clicks counted on a worker thread of their own. The same job, so the same bar:
// every output equals the oracle after a kill -9 and a restart, in both delivery modes, and
// exactly-once without a single duplicate.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertOutputEqualsOracle, createJob, oracleFor, produce, readOutput, startWorker, stopAll, stopWorker } from '../support/job.js';
import { readTopic } from '../support/kafka.js';
import type { Message } from '@confluentinc/kafka-javascript';

const header = (message: Message, name: string): string | undefined => {
  const found = message.headers?.find((h) => name in h);
  return found === undefined ? undefined : String(found[name]);
};

for (const mode of [[], ['--exactly-once']]) {
  const name = mode.length > 0 ? 'exactly-once' : 'at-least-once';
  test(`${name}, --job-thread: kill -9 of one of 2 workers mid-run, then a restart: output equals the oracle`, async () => {
    const job = await createJob(`job-thread-${name}`);
    try {
      const flags = [...mode, '--job-thread', '--idle-timeout', '10s'];
      const victim = startWorker(job, flags);
      startWorker(job, flags);
      await sleep(3_000);
      const producing = produce(job, ['--rate', '15000', '--count', '90000', '--event-rate', '1000', '--seed', '41', '--key', 'url', '--late-share', '0.01', '--max-disorder', '8s']);
      await sleep(2_500);
      await stopWorker(victim, 'SIGKILL');
      await sleep(1_000);
      startWorker(job, flags);
      const expected = oracleFor(await producing);
      const output = await readOutput(job, expected);
      assertOutputEqualsOracle(output, expected);
      if (mode.length > 0) assert.equal(output.duplicates, 0, 'a read_committed reader sees each window once');
      // Late clicks are re-produced by the client thread from what the job thread reported; a
      // replay after the kill may repeat some (at-least-once), so count them by source offset.
      const lateClicks = (messages: Message[]) => new Set(messages.map((m) => `${header(m, 'source-partition')}:${header(m, 'source-offset')}`).filter((id) => id !== 'undefined:undefined'));
      const late = await readTopic(job.topics.late, 4, (messages) => lateClicks(messages).size >= expected.late);
      assert.equal(lateClicks(late).size, expected.late, 'every late click is on clicks-late');
      if (mode.length > 0) assert.equal(late.filter((m) => header(m, 'source-offset') !== undefined).length, expected.late, 'exactly-once: each late click once');
    } finally {
      await stopAll(job);
    }
  });
}
