// Restore from the changelog of a task holding about a million window keys: one partition, a
// backlog of near-uniformly spread urls whose panes are all still open (within the 20 s bound),
// so merge-0 holds ~1 M keys. After a worker has read it and checkpointed, a worker with an empty
// state dir (as on another machine) starts; its log gives the restore rate and the time until
// the task is back in service. Figures only. Part of `npm run bench`.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot, topicNames } from '../src/config.js';
import { launcher } from './launcher.js';

const brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const clicks = Number(process.env.BENCH_RESTORE_CLICKS ?? 1_150_000);
const cli = path.join(packageRoot, 'bin', 'clickstream');
const children = path.join(packageRoot, 'dist', 'bench', 'children.js');

const prefix = `benchcl-${Date.now().toString(36)}.`;
const topics = topicNames(prefix);
const work = mkdtempSync(path.join(tmpdir(), 'clickstream-bench-cl-'));
execFileSync(cli, ['topics', 'create', '--topic-prefix', prefix, '--partitions', '1', '--brokers', brokers], { stdio: 'ignore' });
process.stderr.write(`bench: preloading ${clicks} clicks over ~1 M urls into ${topics.clicks} (1 partition)...\n`);
execFileSync(cli, [
  'produce', '--topic', topics.clicks, '--rate', '0', '--count', String(clicks), '--seed', '3', '--key', 'none',
  '--unknown-urls', '1000000', '--unknown-share', '1', '--zipf', '0.01', '--event-rate', String(clicks / 10), '--late-share', '0', '--brokers', brokers,
]);

const jobId = `${prefix}job`;
const first = spawn(process.execPath, [...launcher.nodeArgs, children, 'worker', brokers, prefix, jobId, path.join(work, 'a'), 'at-least-once', 'changelog'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...launcher.env } });
await new Promise<void>((resolve) => {
  createInterface({ input: first.stdout! }).on('line', (line) => {
    const report = JSON.parse(line) as { kind: string; clicks: number };
    if (report.kind === 'progress' && report.clicks >= clicks) resolve();
  });
});
await new Promise((resolve) => setTimeout(resolve, 2_500)); // one checkpoint after catching up
first.kill('SIGTERM');
await new Promise((resolve) => first.once('exit', resolve));

// Another machine: an empty state dir. Back in service = the task's store is rebuilt and it runs.
const started = performance.now();
const second = spawn(cli, ['run', '--topic-prefix', prefix, '--job-id', jobId, '--state-dir', path.join(work, 'b'), '--no-minute-tables', '--brokers', brokers], { stdio: ['ignore', 'ignore', 'pipe'] });
const restored = new Map<string, { records: number; recordsPerSec: number; elapsedMs: number; keys?: number; inServiceS?: number }>();
await new Promise<void>((resolve) => {
  createInterface({ input: second.stderr! }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    const entry = JSON.parse(line) as { msg: string; task: string; records: number; recordsPerSec: number; elapsedMs: number; openKeys: number };
    if (entry.msg === 'restored from the changelog') restored.set(entry.task, { records: entry.records, recordsPerSec: entry.recordsPerSec, elapsedMs: entry.elapsedMs });
    if (entry.msg === 'task state rebuilt from the changelog') {
      const task = restored.get(entry.task);
      if (task !== undefined) {
        task.inServiceS = (performance.now() - started) / 1000;
        task.keys = entry.openKeys;
      }
      if (restored.size === 2 && [...restored.values()].every((t) => t.inServiceS !== undefined)) resolve();
    }
  });
});
second.kill('SIGTERM');
await new Promise((resolve) => second.once('exit', resolve));
rmSync(work, { recursive: true, force: true });

for (const [task, t] of [...restored].sort()) {
  process.stdout.write(
    `changelog restore bench · ${task}: ${t.keys} open window keys from ${t.records} changelog records read in ${(t.elapsedMs / 1000).toFixed(2)} s (${t.recordsPerSec} records/s); ` +
      `back in service ${t.inServiceS!.toFixed(2)} s after the worker started\n`,
  );
}
