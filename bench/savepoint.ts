// Savepoint, restore and rescale of a job holding about a million open window keys: a worker
// reads a backlog of near-uniformly spread urls over 40 s of event time, so about half are in
// panes still open at the sources (within the 20 s bound) and half in minute windows open at the
// merge tasks (the rows a rescale moves to their url's new owner), then `clickstream savepoint --stop`, `clickstream restore --no-run` and
// `clickstream restore --partitions 8 --no-run` (a rescale from 4 partitions) are timed.
// Figures only. Part of `npm run bench`.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot, topicNames } from '../src/config.js';
import { launcher } from './launcher.js';

const brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const clicks = Number(process.env.BENCH_SAVEPOINT_CLICKS ?? 1_600_000);
const cli = path.join(packageRoot, 'bin', 'clickstream');
const children = path.join(packageRoot, 'dist', 'bench', 'children.js');

const prefix = `benchsp-${Date.now().toString(36)}.`;
const topics = topicNames(prefix);
const work = mkdtempSync(path.join(tmpdir(), 'clickstream-bench-sp-'));
execFileSync(cli, ['topics', 'create', '--topic-prefix', prefix, '--brokers', brokers], { stdio: 'ignore' });
process.stderr.write(`bench: preloading ${clicks} clicks over ~1 M urls into ${topics.clicks}...\n`);
execFileSync(cli, [
  'produce', '--topic', topics.clicks, '--rate', '0', '--count', String(clicks), '--seed', '2', '--key', 'none',
  '--unknown-urls', '1000000', '--unknown-share', '1', '--zipf', '0.01', '--event-rate', String(clicks / 40), '--late-share', '0', '--brokers', brokers,
]);

const jobId = `${prefix}job`;
const stateDir = path.join(work, 'state');
const worker = spawn(process.execPath, [...launcher.nodeArgs, children, 'worker', brokers, prefix, jobId, stateDir], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...launcher.env } });
await new Promise<void>((resolve) => {
  createInterface({ input: worker.stdout! }).on('line', (line) => {
    const report = JSON.parse(line) as { kind: string; clicks: number };
    if (report.kind === 'progress' && report.clicks >= clicks) resolve();
  });
});
await new Promise((resolve) => setTimeout(resolve, 2_500)); // one checkpoint after catching up

const savepointDir = path.join(work, 'savepoint');
let started = performance.now();
const taken = execFileSync(cli, ['savepoint', '--path', savepointDir, '--stop', '--topic-prefix', prefix, '--job-id', jobId, '--brokers', brokers, '--timeout', '120s']).toString();
const savepointS = (performance.now() - started) / 1000;
// The worker stops by itself after the savepoint (--stop); whatever is left of it goes now.
if (worker.exitCode === null && worker.signalCode === null) {
  worker.kill('SIGTERM');
  await new Promise((resolve) => worker.once('exit', resolve));
}

const keys = [...taken.matchAll(/^\S+-\d+\s+\d+\s+\S+\s+(\d+)\s+[\d.]+$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
const sizeKb = Number(/; ([\d.]+) KB/.exec(taken)?.[1]);

started = performance.now();
execFileSync(cli, ['restore', '--from', savepointDir, '--no-run', '--topic-prefix', prefix, '--job-id', `${jobId}-restored`, '--state-dir', path.join(work, 'restored'), '--brokers', brokers], { stdio: ['ignore', 'pipe', 'ignore'] });
const restoreS = (performance.now() - started) / 1000;
// Last: it grows the topics the restore above used.
started = performance.now();
execFileSync(cli, ['restore', '--from', savepointDir, '--partitions', '8', '--no-run', '--topic-prefix', prefix, '--job-id', `${jobId}-rescaled`, '--state-dir', path.join(work, 'rescaled'), '--brokers', brokers], { stdio: ['ignore', 'pipe', 'ignore'] });
const rescaleS = (performance.now() - started) / 1000;
rmSync(work, { recursive: true, force: true });

process.stdout.write(
  `savepoint bench · ${keys} open window keys · savepoint --stop ${savepointS.toFixed(2)} s (includes waiting for a checkpoint and the merge tasks' alignment) · ` +
    `restore ${restoreS.toFixed(2)} s · rescale 4 → 8 ${rescaleS.toFixed(2)} s · size ${(sizeKb / 1024).toFixed(1)} MB\n`,
);
