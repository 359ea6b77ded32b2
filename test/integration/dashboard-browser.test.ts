// The dashboard page in a real headless Chromium (Debian's, driven by playwright-core): it shows
// the running job's workers, partitions, checkpoint rows and window results, updates them without
// a reload, and works offline (every script and style comes from the dashboard itself) under its
// own Content-Security-Policy: the page must never need eval or inline code, so the test waits by
// polling the page from here rather than with page.waitForFunction (which evals in the page).
// Saves a screenshot to test-artifacts/dashboard.png.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { packageRoot } from '../../src/config.js';
import { createJob, produce, startWorker, stopAll } from '../support/job.js';

const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Polls `check` until it holds; fails naming `what` after `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await check()); await sleep(250)) {
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

test('the page shows workers, partitions, checkpoints and windows, and updates live', async () => {
  assert.ok(existsSync(chromiumPath), `no Chromium at ${chromiumPath}: bash scripts/setup.sh installs Debian's chromium, or set CHROMIUM_PATH`);
  const job = await createJob('dashboard-page');
  const port = 21000 + Math.floor(Math.random() * 1000);
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    startWorker(job, ['--dashboard', '--http-port', String(port)]);
    startWorker(job);
    await until('the dashboard to listen', () => fetch(`http://127.0.0.1:${port}/api/job`).then((r) => r.ok, () => false), 30_000);
    const page = await browser.newPage({ viewport: { width: 1400, height: 1400 } });
    const foreign: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(`http://127.0.0.1:${port}/`)) foreign.push(request.url());
    });
    const consoleErrors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    await page.goto(`http://127.0.0.1:${port}/`);
    await until('two worker rows', async () => (await page.locator('#workers tbody tr').count()) === 2, 20_000);
    const clicksBefore = await page.textContent('#stat-clicks');

    await produce(job, ['--rate', '0', '--count', '20000', '--event-rate', '400', '--seed', '61', '--key', 'user']);
    // Same page, no reload: the numbers, partitions, checkpoint rows and window results arrive.
    await until('20,000 clicks shown', async () => (await page.textContent('#stat-clicks')) === '20,000', 30_000);
    await until('top urls and the chart', async () => (await page.locator('#top-urls tbody tr').count()) > 0 && (await page.locator('#chart polyline').count()) > 0, 30_000);
    assert.equal(clicksBefore, '0');
    assert.equal(await page.locator('#partitions tbody tr').count(), 8, 'four source and four merge tasks');
    assert.ok((await page.locator('#checkpoints tbody tr').count()) > 0);
    const states = await page.locator('#workers tbody td.state-running').allTextContents();
    assert.deepEqual(states, ['running', 'running']);
    // Two workers on four partitions: each shows two tasks of each stage.
    const perStage = await page.locator('#workers tbody tr td:nth-child(4)').allTextContents();
    assert.deepEqual(perStage.map((text) => text.replace(/: \d+( \d+)*/g, '')), ['source 2 · merge 2', 'source 2 · merge 2'], perStage.join(' | '));
    assert.match((await page.textContent('#job')) ?? '', new RegExp(job.jobId.replace(/\./g, '\\.')));
    assert.deepEqual(foreign, [], 'the page loads nothing from outside the dashboard');
    assert.deepEqual(consoleErrors, [], 'no script error and no Content-Security-Policy violation');

    const artifacts = path.join(packageRoot, 'test-artifacts');
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'dashboard.png'), fullPage: true });
  } finally {
    await browser.close();
    await stopAll(job);
  }
});
