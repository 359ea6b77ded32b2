// The producer against the real broker: what it logs is exactly what a reader finds in Kafka,
// per partition and in order, for every key strategy.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clickCodec } from '../../src/codec/messages.js';
import { Producer, commonConfig, connectClient, disconnect, flush } from '../../src/kafka/clients.js';
import { runCli } from '../support/cli.js';
import { brokers, createTopic, readTopic, uniqueName } from '../support/kafka.js';

interface LoggedClick {
  p: number;
  k: string | null;
  url: string;
  ts: number;
  user: string;
  session: string;
  region: string;
  ref: string;
}

const workDir = mkdtempSync(path.join(tmpdir(), 'clickstream-produce-'));
const partitions = 4;
const count = 20_000;

function readLog(file: string): LoggedClick[] {
  return readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as LoggedClick);
}

/** Partitions librdkafka's own murmur2 partitioner (the Java client's default) picks for keys. */
async function librdkafkaPartitions(keys: string[]): Promise<Map<string, number>> {
  const topic = uniqueName('test-partitioner');
  await createTopic(topic, partitions);
  const producer = new Producer({ ...commonConfig(brokers, 'test-partitioner'), partitioner: 'murmur2_random' });
  await connectClient(producer, brokers);
  for (const key of keys) producer.produce(topic, -1, Buffer.from(key), key);
  await flush(producer, 10_000);
  await disconnect(producer);
  const messages = await readTopic(topic, partitions, keys.length);
  return new Map(messages.map((m) => [String(m.key), m.partition]));
}

for (const key of ['url', 'user', 'none'] as const) {
  test(`produce --key ${key}: the log matches the topic record for record, per partition in order`, async () => {
    const topic = uniqueName(`test-clicks-${key}`);
    await createTopic(topic, partitions);
    const log = path.join(workDir, `${key}.jsonl`);
    const result = await runCli(['produce', '--topic', topic, '--rate', '0', '--count', String(count), '--seed', '7', '--key', key, '--log', log, '--late-share', '0.01', '--brokers', brokers]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`sent ${count} clicks to ${topic} \\(4 partitions, key=${key}, seed=7\\)`));

    const logged = readLog(log);
    assert.equal(logged.length, count);
    const messages = await readTopic(topic, partitions, count);
    assert.equal(messages.length, count);

    for (let p = 0; p < partitions; p++) {
      const expected = logged.filter((c) => c.p === p);
      const actual = messages.filter((m) => m.partition === p);
      assert.equal(actual.length, expected.length, `partition ${p} count`);
      assert.ok(expected.length > 0, `partition ${p} got clicks`);
      actual.forEach((message, i) => {
        const want = expected[i]!;
        const click = clickCodec.decode(message.value!);
        assert.deepEqual(
          clickCodec.toPlain(click),
          { url: want.url, timestampMs: want.ts, userId: want.user, sessionId: want.session, region: want.region, referrer: want.ref },
          `partition ${p} record ${i}`,
        );
        assert.equal(message.key === null || message.key === undefined ? null : String(message.key), want.k);
      });
    }

    if (key !== 'none') {
      // Same key, same partition — and the one Kafka's default partitioner picks (checked by librdkafka).
      const byKey = new Map<string, number>();
      for (const c of logged) {
        const seen = byKey.get(c.k!);
        if (seen !== undefined) assert.equal(c.p, seen, `key ${c.k} in two partitions`);
        byKey.set(c.k!, c.p);
      }
      const sample = [...byKey.keys()].slice(0, 200);
      const reference = await librdkafkaPartitions(sample);
      for (const k of sample) assert.equal(byKey.get(k), reference.get(k), `partition of key ${k}`);
    }
  });
}

test('the same seed produces the same clicks again', async () => {
  const topic = uniqueName('test-clicks-seed');
  await createTopic(topic, partitions);
  const logs = [path.join(workDir, 'seed-a.jsonl'), path.join(workDir, 'seed-b.jsonl')];
  for (const log of logs) {
    const result = await runCli(['produce', '--topic', topic, '--rate', '0', '--count', '3000', '--seed', '11', '--start-time', '1764000000000', '--log', log, '--brokers', brokers]);
    assert.equal(result.code, 0, result.stderr);
  }
  assert.equal(readFileSync(logs[0]!, 'utf8'), readFileSync(logs[1]!, 'utf8'));
});

test('a rate limit is kept: --rate 2000 for 2 s sends about 4000 clicks', async () => {
  const topic = uniqueName('test-clicks-rate');
  await createTopic(topic, partitions);
  const result = await runCli(['produce', '--topic', topic, '--rate', '2000', '--duration', '2s', '--brokers', brokers]);
  assert.equal(result.code, 0, result.stderr);
  const sent = Number(/sent (\d+) clicks/.exec(result.stdout)?.[1]);
  assert.ok(sent >= 3600 && sent <= 4100, `sent ${sent}`);
  assert.equal((await readTopic(topic, partitions, sent)).length, sent);
});

test('bad input: one line, non-zero exit, no stack trace', async () => {
  const badTable = path.join(workDir, 'bad-urls.csv');
  writeFileSync(badTable, 'url,title,category\n/a,A,blog\n/b,B\n');
  const cases: Array<{ args: string[]; message: RegExp; env?: Record<string, string> }> = [
    { args: ['produce', '--rate', 'fast'], message: /option '--rate <n>' argument 'fast' is invalid/ },
    { args: ['produce', '--no-such-flag'], message: /unknown option '--no-such-flag'/ },
    { args: ['produce', '--rate', '0'], message: /--rate 0 \(as fast as possible\) needs --count or --duration/ },
    { args: ['produce', '--count', '10', '--urls', badTable, '--brokers', brokers], message: /bad-urls.csv:3: expected 3 fields/ },
    { args: ['produce', '--count', '10', '--topic', 'no-such-topic-here', '--brokers', brokers], message: /topic no-such-topic-here does not exist/ },
    { args: ['topics', 'create'], env: { KAFKA_BROKERS: '127.0.0.1:1' }, message: /cannot reach Kafka at 127\.0\.0\.1:1/ },
    { args: ['consume', 'nope'], message: /cannot decode topic "nope"/ },
  ];
  for (const c of cases) {
    const result = await runCli(c.args, c.env ?? {});
    assert.ok(result.code === 1 || result.code === 2, `${c.args.join(' ')} exits with a user-error code, not ${result.code}`);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line for ${c.args.join(' ')}: ${result.stderr}`);
    assert.match(lines[0]!, c.message);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  }
});

test('an unreachable broker fails within 10 s (plus start-up) naming the address', async () => {
  const result = await runCli(['produce', '--count', '10', '--brokers', '127.0.0.1:1']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /cannot reach Kafka at 127\.0\.0\.1:1/);
  assert.ok(result.elapsedMs < 15_000, `took ${result.elapsedMs} ms`);
});
