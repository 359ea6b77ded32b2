// `clickstream run` refuses what it cannot do with one line and a non-zero exit, before touching
// any state: missing topics, state built with another configuration, bad flags.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from '../support/cli.js';
import { brokers, uniqueName } from '../support/kafka.js';
import { createJob } from '../support/job.js';

function assertOneLineError(result: { code: number | null; stderr: string }, message: RegExp): void {
  assert.ok(result.code === 1 || result.code === 2, `exits with a user-error code, not ${result.code} (a hang is killed: null)`);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, message);
}

test('run without the job topics names the missing ones', async () => {
  const prefix = `${uniqueName('no-topics')}.`;
  const result = await runCli(['run', '--topic-prefix', prefix, '--brokers', brokers, '--state-dir', mkdtempSync(path.join(tmpdir(), 'cs-'))]);
  assertOneLineError(result, /topics missing at .*: .*clicks.*run "clickstream topics create" first/);
});

test('run with an unreachable broker names the address (and does not crash closing what it never opened)', async () => {
  const result = await runCli(['run', '--brokers', '127.0.0.1:1', '--state-dir', mkdtempSync(path.join(tmpdir(), 'cs-'))]);
  assertOneLineError(result, /cannot reach Kafka at 127\.0\.0\.1:1/);
  assert.equal(result.code, 2);
});

test('state built with another configuration is refused and left untouched', async () => {
  const job = await createJob('run-shape');
  const jobDir = path.join(job.stateDir, job.jobId);
  mkdirSync(jobDir, { recursive: true });
  const stored = { clicksPartitions: 8, mergePartitions: 8, paneMs: 5000, totalWindowMs: 10000, totalSlideMs: 5000, statsWindowMs: 60000, maxOutOfOrdernessMs: 20000 };
  writeFileSync(path.join(jobDir, 'job.json'), JSON.stringify(stored));
  const result = await runCli(['run', '--topic-prefix', job.prefix, '--job-id', job.jobId, '--state-dir', job.stateDir, '--brokers', brokers]);
  assertOneLineError(result, /another configuration \(clicksPartitions: 8 in the state, 4 now\)/);
  assert.deepEqual(JSON.parse(readFileSync(path.join(jobDir, 'job.json'), 'utf8')), stored);

});
