import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { BrokerHealth, OutageTracker } from '../../../src/runtime/outage.js';

test('an outage is reported once when it begins and once when it ends, with its length', () => {
  const outage = new OutageTracker(1_000);
  assert.equal(outage.succeeded(0), undefined, 'no outage to end');
  assert.equal(outage.failed(1_000), false, 'one failure is not an outage yet');
  assert.equal(outage.failed(2_000), true, 'failures lasting the grace period begin the outage');
  for (let t = 3_000; t < 31_000; t += 1_000) assert.equal(outage.failed(t), false, 'retries are not reported again');
  assert.equal(outage.inOutage, true);
  assert.deepEqual(outage.succeeded(31_500), { durationMs: 30_500, failures: 30 });
  assert.equal(outage.inOutage, false);
  assert.equal(outage.succeeded(32_000), undefined, 'the end is reported once');
  assert.equal(outage.failed(40_000), false);
  assert.equal(outage.succeeded(40_050), undefined, 'a blip shorter than the grace period is neither begun nor ended');
  assert.equal(outage.failed(50_000), false);
  assert.equal(outage.failed(51_000), true, 'a later outage is a new one');
});

test('a client saying the brokers are down is an outage when no call succeeds for a while after it', () => {
  const outage = new OutageTracker(1_000, 2_000);
  outage.succeeded(10_000);
  // The case a time filter got wrong: the event comes right after a successful checkpoint, and
  // the next checkpoint hangs through the outage instead of failing.
  assert.equal(outage.clientSaysDown(10_600), 'confirm', 'taken, though a call succeeded 0.6 s before');
  assert.equal(outage.stillDown(10_600, 15_600), true, 'nothing answered for 5 s: reported');
  assert.equal(outage.stillDown(10_600, 16_000), false, 'once');
  assert.deepEqual(outage.succeeded(40_600), { durationMs: 30_000, failures: 3 });

  assert.equal(outage.clientSaysDown(41_000), 'stale', 'right after the end: a stale event from the outage');
  assert.equal(outage.inOutage, false);

  assert.equal(outage.clientSaysDown(100_000), 'confirm', 'a dropped idle connection says the same');
  outage.succeeded(101_000);
  assert.equal(outage.stillDown(100_000, 105_000), false, 'a call succeeded since: not an outage');
  assert.equal(outage.inOutage, false);

  assert.equal(outage.failed(200_000), false, 'a failed call starts an outage');
  assert.equal(outage.clientSaysDown(201_500), 'report', 'the event then reports it, as a second failure would');
  assert.equal(outage.inOutage, true);
});

test('a call sent before the failures began answers for then: it neither ends the outage nor cancels its confirmation', () => {
  const outage = new OutageTracker(1_000, 2_000);
  assert.equal(outage.failed(1_000), false);
  assert.equal(outage.succeeded(1_500, 900), undefined, 'a checkpoint sent at 0.9 s, its reply read at 1.5 s');
  assert.equal(outage.failed(2_000), true, 'the failures since 1 s are still one outage');
  assert.deepEqual(outage.succeeded(9_000, 8_500), { durationMs: 8_000, failures: 2 }, 'a call sent during the outage ends it');

  const late = new OutageTracker(1_000, 2_000);
  late.succeeded(10_000);
  assert.equal(late.clientSaysDown(10_600), 'confirm');
  late.succeeded(10_700, 10_500); // a checkpoint sent before the event, answered after it
  assert.equal(late.stillDown(10_600, 15_600), true, 'its reply does not show the broker came back');
  assert.equal(late.inOutage, true);

  // Each client says "down" once: one of them late, during an outage that ends (by a commit
  // sent during it, before the event) before that event's check: no second outage.
  const twice = new OutageTracker(1_000, 2_000);
  assert.equal(twice.failed(20_000), false);
  assert.equal(twice.failed(21_000), true, 'reported once');
  assert.equal(twice.clientSaysDown(25_000), 'confirm');
  assert.deepEqual(twice.succeeded(50_000, 24_000), { durationMs: 30_000, failures: 3 });
  assert.equal(twice.stillDown(25_000, 53_000), false, 'the outage the event belonged to is over');
  assert.equal(twice.failed(54_500), false);
  assert.equal(twice.failed(55_000), false, 'a blip after it is no second outage');
});

test('a seek right after the brokers-down event does not hide the outage: a local call is no answer from the broker', async () => {
  const run = async (local: boolean): Promise<string[]> => {
    const warnings: string[] = [];
    const log = { debug: () => undefined, info: () => undefined, warn: (msg: string) => void warnings.push(msg), error: (msg: string) => void warnings.push(msg) };
    // Confirmed after the tracker's 1 s grace: a shorter wait could not report anything yet.
    const health = new BrokerHealth('b', log, [], 1_050);
    health.clientError({ message: 'all broker connections are down' });
    await health.retry('seeking', async () => undefined, { local });
    await sleep(1_200);
    return warnings;
  };
  const [local, remote] = await Promise.all([run(true), run(false)]);
  assert.deepEqual(local.map((m) => m.split(':')[0]), ['broker unreachable']);
  assert.deepEqual(remote, [], 'a real broker call that succeeds says the connection drop was no outage');
});
