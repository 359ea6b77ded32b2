// `node dist/chaos/takeover.js --runs 20 [--clicks 1500000] [--exactly-once]`: the scenario of
// test/support/takeover.ts in a loop, one line per run, for checking a fix by hand many times.
// Exit 1 if any run differed from the oracle (or, in exactly-once mode, showed a duplicate).

import { Command } from 'commander';
import { duration, nonNegativeInt, positiveInt } from '../src/cli/options.js';
import { differences, runTakeover } from '../test/support/takeover.js';

const options = new Command('takeover')
  .option('--runs <n>', 'runs of the scenario', positiveInt, 1)
  .option('--clicks <n>', 'clicks in the backlog', positiveInt, 1_500_000)
  .option('--step <time>', 'time between kill, start, kill + start', duration, 5_000)
  .option('--seed <n>', 'seed of the first run (+1 per run)', nonNegativeInt, 1)
  .option('--key <key>', 'record key of the clicks: user, url or none', 'user')
  .option('--exactly-once', 'workers run with --exactly-once; any duplicate is a failure', false)
  .parse(process.argv)
  .opts<{ runs: number; clicks: number; step: number; seed: number; key: 'user' | 'url' | 'none'; exactlyOnce: boolean }>();

let failed = 0;
for (let i = 0; i < options.runs; i++) {
  const seed = options.seed + i;
  const startedAt = Date.now();
  const run = await runTakeover({ clicks: options.clicks, seed, exactlyOnce: options.exactlyOnce, stepMs: options.step, key: options.key });
  const found = differences(run);
  if (options.exactlyOnce && run.output.duplicates > 0) found.push(`${run.output.duplicates} duplicate records`);
  if (found.length > 0) failed++;
  const rebuilt = run.logs.map((log) => log.split('\n').filter((line) => line.includes('task state rebuilt from the changelog')).length);
  process.stdout.write(`run ${i + 1} seed ${seed}: ${found.length === 0 ? 'exact' : found.join('; ')} · ${run.output.duplicates} duplicates · tasks rebuilt per worker ${rebuilt.join('/')} · ${((Date.now() - startedAt) / 1000).toFixed(0)} s\n`);
  if (found.length > 0 && process.env.TAKEOVER_LOG_DIR !== undefined) {
    const { writeFileSync, mkdirSync } = await import('node:fs');
    mkdirSync(process.env.TAKEOVER_LOG_DIR, { recursive: true });
    run.logs.forEach((log, w) => writeFileSync(`${process.env.TAKEOVER_LOG_DIR}/seed-${seed}-worker-${w + 1}.log`, log));
  }
}
process.stdout.write(`takeover: ${options.runs - failed} exact, ${failed} failed\n`);
process.exit(failed === 0 ? 0 : 1);
