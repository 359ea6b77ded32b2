// The dashboard against a running job on the real broker: its API figures match what was
// produced and consumed, it notices a worker leaving, and each worker serves Prometheus metrics.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createJob, oracleFor, produce, startWorker, stopAll, stopWorker } from '../support/job.js';
import type { JobSnapshot } from '../../src/http/job-view.js';

async function waitFor<T>(url: string, accept: (body: T) => boolean, timeoutMs = 40_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      if (response.ok) {
        last = (await response.json()) as T;
        if (accept(last)) return last;
      }
    } catch {
      // not listening yet
    }
    await sleep(500);
  }
  assert.fail(`timed out waiting on ${url}; last answer: ${JSON.stringify(last)?.slice(0, 2000)}`);
}

test('the API reports workers, partitions, checkpoints and windows that match the input', async () => {
  const job = await createJob('dashboard-api');
  const port = 22000 + Math.floor(Math.random() * 1000);
  const api = `http://127.0.0.1:${port}/api`;
  try {
    // No partition may go idle waiting for the burst (the harness's 3 s would): a partition that
    // wakes after another worker's ran ahead sees its late clicks closed out at the merge, which
    // the oracle does not model (the start-up race of the README's "idle partitions").
    const noIdleBeforeClicks = ['--idle-timeout', '10s'];
    startWorker(job, ['--dashboard', '--http-port', String(port), ...noIdleBeforeClicks]);
    const second = startWorker(job, ['--metrics-port', '0', ...noIdleBeforeClicks]);
    await sleep(3_000);
    const log = await produce(job, ['--rate', '0', '--count', '30000', '--event-rate', '500', '--seed', '51', '--key', 'url', '--late-share', '0.01']);
    const expected = oracleFor(log);

    // Every click consumed, counted once, across both workers; late clicks as the oracle says.
    const job1 = await waitFor<JobSnapshot>(`${api}/job`, (s) => s.records.clicksIn >= 30_000 && s.totals.length >= expected.totals.size - 2);
    assert.equal(job1.records.clicksIn, 30_000);
    assert.equal(job1.records.late, expected.late);
    assert.deepEqual(job1.jobIds, [job.jobId]);
    assert.equal(job1.workers.filter((w) => w.state === 'running').length, 2);
    const sources = job1.partitions.filter((p) => p.stage === 'source');
    assert.deepEqual(sources.map((p) => p.partition), [0, 1, 2, 3], 'every clicks partition is held by one worker');
    assert.equal(sources.reduce((sum, p) => sum + (p.nextOffset ?? 0), 0), 30_000);
    assert.ok(sources.every((p) => p.lag === 0 && p.watermarkMs !== null));
    assert.ok(job1.checkpointStats.completed > 0 && job1.checkpoints.length > 0);
    assert.ok(
      job1.checkpoints.every((c) => c.tasks.length > 0 && c.durationMs >= 0),
      `every checkpoint covers tasks; these did not: ${JSON.stringify(job1.checkpoints.filter((c) => c.tasks.length === 0))}`,
    );
    // The chart's windows are the oracle's totals.
    for (const total of job1.totals) assert.equal(total.count, expected.totals.get(total.windowStart), `total window ${total.windowStart}`);
    assert.ok(job1.topUrls.rows.length > 0);
    for (const row of job1.topUrls.rows) assert.equal(row.count, expected.counts.get(`${job1.topUrls.windowStart}|${row.url}`));

    // Each worker serves Prometheus metrics; together they count every click.
    let metricClicks = 0;
    for (const worker of job1.workers) {
      assert.ok(worker.metricsUrl, `worker ${worker.worker} publishes its metrics url`);
      const text = await (await fetch(worker.metricsUrl!)).text();
      assert.match(text, /# TYPE clickstream_checkpoint_duration_seconds histogram/);
      assert.match(text, /^clickstream_tasks_waiting_to_open\{[^}]*\} 0$/m, 'every task of a settled job is open');
      metricClicks += Number(/^clickstream_clicks_in_total\{[^}]*\} (\d+)$/m.exec(text)?.[1]);
    }
    assert.equal(metricClicks, 30_000);

    // A worker that leaves is shown as stopped, and its partitions move to the other one.
    await stopWorker(second, 'SIGTERM');
    const job2 = await waitFor<JobSnapshot>(`${api}/job`, (s) => s.workers.some((w) => w.state === 'stopped') && s.partitions.filter((p) => p.stage === 'source').length === 4);
    assert.equal(job2.workers.filter((w) => w.state === 'running').length, 1);
    assert.equal(new Set(job2.partitions.map((p) => p.worker)).size, 1);

    const page = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<script src="app.js"><\/script>/);
  } finally {
    await stopAll(job);
  }
});
