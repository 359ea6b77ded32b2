// Malformed records in clicks go to clicks-dlq with the error as a header; the job goes on and
// its results for the good clicks are still exact.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clickCodec } from '../../src/codec/messages.js';
import { Producer, commonConfig, connectClient, disconnect, flush } from '../../src/kafka/clients.js';
import { assertOutputEqualsOracle, createJob, oracleFor, produce, readOutput, startWorker, stopAll } from '../support/job.js';
import { brokers, readTopic } from '../support/kafka.js';

test('bad records end up in clicks-dlq; results for the good ones are exact', async () => {
  const job = await createJob('job-dlq');
  try {
    const log = await produce(job, ['--rate', '0', '--count', '20000', '--event-rate', '500', '--seed', '31', '--key', 'none']);
    const bad: Array<[Buffer, RegExp]> = [
      [Buffer.from('this is not protobuf'), /wire type|truncated|past the end/],
      [Buffer.from(clickCodec.encode({ url: '', timestampMs: Date.now(), userId: 'u', sessionId: 's', region: 'r', referrer: '' })), /missing url/],
      [Buffer.from(clickCodec.encode({ url: '/x', timestampMs: 42, userId: 'u', sessionId: 's', region: 'r', referrer: '' })), /absurd timestamp_ms 42/],
      [Buffer.alloc(0), /empty record|missing url/],
    ];
    const producer = new Producer(commonConfig(brokers, 'test-bad-records'));
    await connectClient(producer, brokers);
    bad.forEach(([value], i) => producer.produce(job.topics.clicks, i % 4, value, `bad-${i}`));
    await flush(producer, 10_000);
    await disconnect(producer);

    startWorker(job);
    startWorker(job);
    const expected = oracleFor(log);
    assertOutputEqualsOracle(await readOutput(job, expected), expected);

    const dead = await readTopic(job.topics.deadLetter, 1, bad.length);
    assert.equal(dead.length, bad.length);
    for (const record of dead) {
      const index = Number(String(record.key).replace('bad-', ''));
      const error = record.headers?.find((h) => 'error' in h)?.error;
      assert.match(String(error), bad[index]![1], `error header of bad record ${index}`);
      assert.deepEqual(Buffer.from(record.value ?? Buffer.alloc(0)), bad[index]![0], 'the original bytes are kept');
    }
  } finally {
    await stopAll(job);
  }
});
