// Hostile records between seeded good clicks: one worker runs through all of them without a
// restart; the good clicks equal the oracle; every hostile click is in clicks-dlq with its
// reason; records on internal topics that are not the job's are skipped; the dashboard still
// answers; and what the worker prints holds no raw control character, although a good click
// carries terminal escapes in its url.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { Producer, commonConfig, connectClient, disconnect, flush } from '../../src/kafka/clients.js';
import { clickCodec } from '../../src/codec/messages.js';
import { assertOutputEqualsOracle, createJob, produce, readClickLog, readOutput, startWorker, stopAll } from '../support/job.js';
import { brokers, readTopic, waitForCommittedEnd } from '../support/kafka.js';
import { expectedWindows, type OracleClick } from '../support/oracle.js';
import { hostileClicks, hostileInternalRecords } from '../support/hostile.js';
import { freePort } from '../support/own-broker.js';

/** The status of a request with the given method and Host header (fetch may not set Host). */
const statusOf = (port: number, method: string, host: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/job', method, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });

test('hostile records never stop the worker, are dead-lettered with their reasons, and leave the good clicks exact', async () => {
  const job = await createJob('hostile');
  try {
    const startMs = Date.now() - 30_000;
    const escapeUrl = '/unlisted/esc\u001b[2J\u001b]0;owned\u0007\n   999  /forged-row';
    const hostile = hostileClicks(Date.now());
    const producer = new Producer({ ...commonConfig(brokers, 'test-hostile'), 'message.max.bytes': 2_000_000 });
    await connectClient(producer, brokers);
    const good: OracleClick[] = [];
    for (let i = 0; i < 600; i++) {
      const partition = i % 4;
      producer.produce(job.topics.clicks, partition, Buffer.from(clickCodec.encode({ url: escapeUrl, timestampMs: startMs, userId: 'u', sessionId: 's', region: 'eu', referrer: '' })), `esc-${i}`);
      good.push({ partition, url: escapeUrl, ts: startMs });
    }
    // A flood of distinct urls just under the length limit, all in one pane of one partition:
    // 40 MB of state in one pane, each of its 32 store buckets over Kafka's 1 MB record limit.
    for (let i = 0; i < 20_000; i++) {
      const url = `/unlisted/flood/${i}/${'x'.repeat(2_000)}`;
      producer.produce(job.topics.clicks, 0, Buffer.from(clickCodec.encode({ url, timestampMs: startMs + 1_000, userId: 'u', sessionId: 's', region: 'eu', referrer: '' })), `flood-${i}`);
      good.push({ partition: 0, url, ts: startMs + 1_000 });
      if (i % 1_000 === 999) producer.poll();
    }
    hostile.forEach((h, i) => producer.produce(job.topics.clicks, i % 4, h.value, h.key));
    for (const [i, record] of hostileInternalRecords().entries()) {
      const topic = record.topic === 'partials' ? job.topics.partials : record.topic === 'status' ? job.topics.status : record.topic === 'control' ? job.topics.control : job.topics.savepoints;
      producer.produce(topic, record.partition ?? (record.topic === 'partials' ? i % 4 : 0), record.value, `hostile-${i}`);
    }
    await flush(producer, 30_000);
    await disconnect(producer);

    const log = await produce(job, ['--rate', '0', '--count', '20000', '--event-rate', '1000', '--start-time', String(startMs), '--seed', '77', '--key', 'url', '--late-share', '0.01']);
    const port = await freePort();
    const worker = startWorker(job, ['--dashboard', '--http-port', String(port)], {}, { minuteTables: true });
    let stdout = '';
    worker.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));

    const expected = expectedWindows([...good, ...readClickLog(log)]);
    assertOutputEqualsOracle(await readOutput(job, expected), expected);
    assert.equal(worker.exitCode, null, 'the worker ran through every hostile record without stopping');
    const offsets = await waitForCommittedEnd(job.jobId, job.topics.clicks, 4, 30_000);
    assert.deepEqual(offsets.committed, offsets.end, 'the worker checkpointed every click it read (the flood\'s pane included)');

    const dead = await readTopic(job.topics.deadLetter, 1, hostile.length);
    const header = (h: Array<Record<string, unknown>> | undefined, name: string) => String(h?.find((x) => name in x)?.[name] ?? '');
    for (const h of hostile) {
      const keyPrefix = Buffer.from(typeof h.key === 'string' ? h.key : h.key ?? Buffer.alloc(0)).subarray(0, 1024);
      const found = dead.find((m) => Buffer.from(m.key ?? Buffer.alloc(0)).equals(keyPrefix));
      assert.ok(found, `${h.name} is in clicks-dlq`);
      assert.equal(header(found.headers, 'reason'), h.reason, `${h.name}: reason`);
      assert.equal(header(found.headers, 'source-topic'), job.topics.clicks);
    }
    assert.equal(dead.length, hostile.length, 'nothing else was dead-lettered');

    const response = await fetch(`http://127.0.0.1:${port}/api/job`);
    assert.equal(response.status, 200, 'the dashboard answers despite a bad status record');
    const view = (await response.json()) as { workers: Array<{ metrics: { internalSkipped: number } }>; checkpointStats: { completed: number; skipped: number } };
    assert.ok(view.checkpointStats.completed > 0);
    const notCompleted = async (): Promise<string> => {
      const { history } = (await (await fetch(`http://127.0.0.1:${port}/api/checkpoints`)).json()) as { history: Array<{ status: string; reason?: string }> };
      return JSON.stringify(history.filter((c) => c.status !== 'completed'));
    };
    assert.equal(view.checkpointStats.skipped, 0, `no checkpoint failed: the flood's pane fits the changelog (${view.checkpointStats.skipped > 0 ? await notCompleted() : ''})`);
    const partialsSent = hostileInternalRecords().filter((record) => record.topic === 'partials').length;
    const skipped = view.workers.reduce((sum, w) => sum + w.metrics.internalSkipped, 0);
    assert.ok(skipped >= partialsSent, `every unfit partial (${partialsSent}) is skipped and counted (${skipped})`);
    assert.equal(await statusOf(port, 'POST', '127.0.0.1'), 405);
    assert.equal(await statusOf(port, 'GET', 'rebind.attacker.example'), 421, 'a DNS-rebinding page is refused');

    // The minute tables printed the url with terminal escapes, escaped: no raw control character.
    assert.match(stdout, /minute .* UTC/, 'minute tables were printed');
    assert.ok(stdout.includes('/unlisted/esc\\u{1b}[2J\\u{1b}]0;owned\\u{7}\\u{a}   999  /forged-row'), 'the url is shown escaped');
    assert.doesNotMatch(stdout, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, 'no raw control character on stdout');
  } finally {
    await stopAll(job);
  }
});
