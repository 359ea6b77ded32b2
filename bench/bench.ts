// `npm run bench`: preloads a backlog of clicks and measures, in one run, a raw consume-and-
// discard baseline with the job's own consumer settings, the job with 1 worker and with 2
// workers, with 1 worker in exactly-once mode and with 1 worker without the changelog: clicks/s,
// peak RSS, checkpoint duration (median, p99) and checkpoint size.
// Figures only; nothing here passes or fails. Keep the output format stable across versions.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { execFileSync } from 'node:child_process';
import { packageRoot, topicNames } from '../src/config.js';

const brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const clicks = Number(process.env.BENCH_CLICKS ?? 5_000_000);
const partitions = 4;
const urls = 1000;
const cli = path.join(packageRoot, 'bin', 'clickstream');
const children = path.join(packageRoot, 'dist', 'bench', 'children.js');

interface Line {
  kind: 'progress' | 'final';
  clicks: number;
  [key: string]: unknown;
}

interface ChildRun {
  lines: Line[];
  final: Promise<Line>;
  stop(): void;
  onProgress(cb: (line: Line) => void): void;
}

function startChild(args: string[]): ChildRun {
  // The same V8 flag as bin/clickstream's shebang, so the worker measured is the one users run.
  const child = spawn(process.execPath, ['--max-semi-space-size=8', children, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Line[] = [];
  const listeners: Array<(line: Line) => void> = [];
  let resolveFinal!: (line: Line) => void;
  const final = new Promise<Line>((resolve, reject) => {
    resolveFinal = resolve;
    child.on('exit', (code) => code !== 0 && reject(new Error(`bench child exited with ${code}`)));
  });
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = JSON.parse(text) as Line;
    lines.push(line);
    if (line.kind === 'final') resolveFinal(line);
    else for (const listener of listeners) listener(line);
  });
  return { lines, final, stop: () => child.kill('SIGTERM'), onProgress: (cb) => listeners.push(cb) };
}

const quantile = (values: number[], q: number): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};

interface Row {
  name: string;
  clicksPerSec: number;
  wallS: number;
  peakRssMb: number;
  ckptP50Ms?: number;
  ckptP99Ms?: number;
  ckptKbP50?: number;
  ckptCount?: number;
  flushP99Ms?: number;
}

async function runJob(prefix: string, workers: number, exactlyOnce = false, changelog = true): Promise<Row> {
  const variant = `${exactlyOnce ? '-eos' : ''}${changelog ? '' : '-nocl'}`;
  const jobId = `${prefix}job-${workers}${variant}`;
  const stateDir = mkdtempSync(path.join(tmpdir(), 'clickstream-bench-'));
  const startedAt = performance.now();
  const runs = Array.from({ length: workers }, () => startChild(['worker', brokers, prefix, jobId, stateDir, exactlyOnce ? 'exactly-once' : 'at-least-once', changelog ? 'changelog' : 'no-changelog']));
  const latest = runs.map(() => 0);
  let firstAt = 0;
  const doneAt = await new Promise<number>((resolve) => {
    runs.forEach((run, i) =>
      run.onProgress((line) => {
        latest[i] = line.clicks;
        const sum = latest.reduce((a, b) => a + b, 0);
        if (sum > 0 && firstAt === 0) firstAt = performance.now();
        if (sum >= clicks) resolve(performance.now());
      }),
    );
  });
  for (const run of runs) run.stop();
  const finals = await Promise.all(runs.map((run) => run.final));
  rmSync(stateDir, { recursive: true, force: true });
  const checkpoints = finals.flatMap((f) => f.checkpoints as Array<{ durationMs: number; kafkaWaitMs: number; bytes: number }>);
  const durations = checkpoints.map((c) => c.durationMs);
  const wallS = (doneAt - startedAt) / 1000;
  return {
    name: `job-${workers}-worker${workers > 1 ? 's' : ''}${variant}`,
    clicksPerSec: clicks / ((doneAt - firstAt) / 1000),
    wallS,
    peakRssMb: Math.max(...finals.map((f) => f.peakRss as number)) / 2 ** 20,
    ckptP50Ms: quantile(durations, 0.5),
    ckptP99Ms: quantile(durations, 0.99),
    ckptKbP50: quantile(checkpoints.map((c) => c.bytes), 0.5) / 1024,
    ckptCount: checkpoints.length,
    flushP99Ms: quantile(checkpoints.map((c) => c.kafkaWaitMs), 0.99),
  };
}

async function main(): Promise<void> {
  const prefix = `bench-${Date.now().toString(36)}.`;
  const topics = topicNames(prefix);
  execFileSync(cli, ['topics', 'create', '--topic-prefix', prefix, '--partitions', String(partitions), '--brokers', brokers], { stdio: 'ignore' });
  process.stderr.write(`bench: preloading ${clicks} clicks into ${topics.clicks}...\n`);
  const produced = execFileSync(cli, [
    'produce', '--topic', topics.clicks, '--rate', '0', '--count', String(clicks), '--seed', '1', '--key', 'none',
    '--unknown-urls', String(urls - 150), '--unknown-share', '0.5', '--event-rate', '5000', '--brokers', brokers,
  ]).toString().trim();
  process.stderr.write(`bench: ${produced}\n`);

  const rows: Row[] = [];
  const raw = startChild(['raw', brokers, topics.clicks, String(partitions), String(clicks)]);
  const rawFinal = await raw.final;
  rows.push({ name: 'raw-consume', clicksPerSec: clicks / ((rawFinal.activeMs as number) / 1000), wallS: (rawFinal.wallMs as number) / 1000, peakRssMb: (rawFinal.peakRss as number) / 2 ** 20 });
  process.stderr.write(`bench: raw consume done\n`);
  rows.push(await runJob(prefix, 1));
  process.stderr.write(`bench: 1 worker done\n`);
  rows.push(await runJob(prefix, 2));
  process.stderr.write(`bench: 2 workers done\n`);
  rows.push(await runJob(prefix, 1, true));
  process.stderr.write(`bench: exactly-once done\n`);
  rows.push(await runJob(prefix, 1, false, false));

  const fmt = (value: number | undefined, digits = 0): string => (value === undefined || Number.isNaN(value) ? '-' : value.toFixed(digits));
  const out = [
    `clickstream bench · ${new Date().toISOString().slice(0, 10)} · ${clicks} clicks, ${partitions} partitions, ${urls} urls, broker ${brokers}`,
    `${'case'.padEnd(20)}${'clicks/s'.padStart(10)}${'vs raw'.padStart(8)}${'wall s'.padStart(8)}${'RSS MB'.padStart(8)}${'ckpt p50 ms'.padStart(13)}${'ckpt p99 ms'.padStart(13)}${'ckpt KB p50'.padStart(13)}${'ckpts'.padStart(7)}${'flush p99'.padStart(11)}`,
    ...rows.map((r) =>
      `${r.name.padEnd(20)}${fmt(r.clicksPerSec).padStart(10)}${(fmt((100 * r.clicksPerSec) / rows[0]!.clicksPerSec) + '%').padStart(8)}${fmt(r.wallS, 1).padStart(8)}${fmt(r.peakRssMb).padStart(8)}` +
      `${fmt(r.ckptP50Ms, 1).padStart(13)}${fmt(r.ckptP99Ms, 1).padStart(13)}${fmt(r.ckptKbP50, 1).padStart(13)}${fmt(r.ckptCount).padStart(7)}${fmt(r.flushP99Ms, 1).padStart(11)}`,
    ),
    'clicks/s counts from the first record read to the last (wall s includes start-up and group join).',
    'A checkpoint\'s duration includes waiting for the producer\'s acknowledgements (flush p99;',
    'in exactly-once mode: sending the offsets and committing the transaction). -eos: exactly-once;',
    '-nocl: without the changelog topics (the others write every checkpoint\'s changes to them).',
  ];
  process.stdout.write(out.join('\n') + '\n');
}

await main();
