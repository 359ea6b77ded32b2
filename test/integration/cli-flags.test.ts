// Every flag given a bad value: one line on stderr, no stack trace, and the README's exit code
// (1 a usage error, 2 another problem the user can fix), before anything is touched.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { runCli } from '../support/cli.js';
import { brokers } from '../support/kafka.js';
import { createJob } from '../support/job.js';

interface Case {
  args: string[];
  code: 1 | 2;
  message: RegExp;
}

function assertRefused(result: { code: number | null; stderr: string }, c: Case): void {
  const lines = result.stderr.trim().split('\n');
  assert.equal(result.code, c.code, `${c.args.join(' ')} exits ${c.code}, not ${result.code}: ${result.stderr}`);
  assert.equal(lines.length, 1, `one line for ${c.args.join(' ')}: ${result.stderr}`);
  assert.match(lines[0]!, c.message, c.args.join(' '));
  assert.doesNotMatch(result.stderr, /\n\s+at /);
}

const usage: Case[] = [
  { args: ['run', '--idle-timeout', 'soon'], code: 1, message: /--idle-timeout <time>' argument 'soon' is invalid/ },
  { args: ['run', '--checkpoint-interval', '0'], code: 1, message: /expected a duration from 100ms to 10m/ },
  { args: ['run', '--allowed-lateness', '2h'], code: 1, message: /--allowed-lateness <time>' argument '2h' is invalid. expected a duration from 0s to 1h/ },
  { args: ['restore', '--from', '/nonexistent', '--allowed-lateness', '-5s'], code: 1, message: /--allowed-lateness <time>' argument '-5s' is invalid/ },
  { args: ['run', '--http-port', '70000'], code: 1, message: /expected a whole number from 0 to 65535/ },
  { args: ['run', '--metrics-port', '70000'], code: 1, message: /expected a whole number from 0 to 65535/ },
  { args: ['run', '--host', '999.1.1.1'], code: 1, message: /expected an IP address/ },
  { args: ['run', '--max-out-of-orderness', '1e29'], code: 1, message: /--max-out-of-orderness <time>' argument '1e29' is invalid/ },
  { args: ['run', '--max-out-of-orderness', '2h'], code: 1, message: /expected a duration from 0s to 1h/ },
  { args: ['run', '--max-url-length', '0'], code: 1, message: /expected a whole number from 1 to 65536/ },
  { args: ['run', '--max-record-size', '2000000'], code: 1, message: /from 64 to 1000000/ },
  { args: ['run', '--max-future', '8d'], code: 1, message: /expected a duration like/ },
  { args: ['run', '--max-watermark-drift', '5s'], code: 1, message: /--max-watermark-drift <time>' argument '5s' is invalid. expected 0 \(off\) or a duration from 1m to 24h/ },
  { args: ['run', '--max-watermark-drift', '-1m'], code: 1, message: /--max-watermark-drift <time>' argument '-1m' is invalid/ },
  { args: ['produce', '--rate', 'fast'], code: 1, message: /--rate <n>' argument 'fast' is invalid/ },
  { args: ['produce', '--rate', '0'], code: 1, message: /--rate 0 \(as fast as possible\) needs --count or --duration/ },
  { args: ['produce', '--duration', '0'], code: 1, message: /expected a duration from 1ms to/ },
  { args: ['dashboard', '--http-port', '-1'], code: 1, message: /--http-port <port>' argument '-1' is invalid/ },
  { args: ['consume', 'nope'], code: 1, message: /cannot decode topic "nope"/ },
  { args: ['savepoint'], code: 1, message: /savepoint needs --path DIR/ },
];

test('bad flag values are one-line usage errors (exit 1)', async () => {
  for (const c of usage) assertRefused(await runCli(c.args), c);
});

test('a log file that cannot be written, and ports in use, are one-line user errors (exit 2)', async () => {
  const job = await createJob('cli-flags');
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
  const taken = (blocker.address() as { port: number }).port;
  try {
    const cases: Case[] = [
      { args: ['produce', '--count', '10', '--topic', job.topics.clicks, '--log', '/nonexistent/dir/x', '--brokers', brokers], code: 2, message: /cannot write log \/nonexistent\/dir\/x: ENOENT/ },
      { args: ['run', '--topic-prefix', job.prefix, '--job-id', job.jobId, '--state-dir', `${job.dir}/state`, '--metrics-port', String(taken), '--brokers', brokers], code: 2, message: new RegExp(`port ${taken} on 127.0.0.1 is in use; choose another with --metrics-port`) },
      { args: ['dashboard', '--topic-prefix', job.prefix, '--http-port', String(taken), '--brokers', brokers], code: 2, message: new RegExp(`port ${taken} on 127.0.0.1 is in use; choose another with --http-port`) },
    ];
    for (const c of cases) assertRefused(await runCli(c.args), c);
  } finally {
    blocker.close();
  }
});
