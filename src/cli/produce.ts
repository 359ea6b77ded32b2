// `clickstream produce`: the dummy click producer (seeded, Zipf-skewed, disordered, with late clicks).

import { Command, Option } from 'commander';
import { defaults, resolveBrokers, topics, urlsCsvPath } from '../config.js';
import { ClickGenerator, type KeyStrategy } from '../producer/generator.js';
import { sendClicks, type SendProgress } from '../producer/send.js';
import { readUrlRows } from '../table/urls.js';
import { Producer, commonConfig, connectClient, disconnect, partitionCounts } from '../kafka/clients.js';
import { UserError } from '../errors.js';
import { brokersOption, durationIn, intIn, nonNegativeInt, numberIn, positiveInt, share } from './options.js';

interface ProduceFlags {
  rate: number;
  count?: number;
  duration?: number;
  key: KeyStrategy;
  seed?: number;
  log?: string;
  topic: string;
  urls: string;
  unknownUrls: number;
  unknownShare: number;
  zipf: number;
  users: number;
  maxDisorder: number;
  lateShare: number;
  eventRate?: number;
  startTime?: number;
  brokers?: string;
}

export function produceCommand(): Command {
  return new Command('produce')
    .description('write dummy click events to the clicks topic')
    .option('--rate <n>', 'clicks per second; 0 = as fast as possible', nonNegativeInt, 1000)
    .option('--count <n>', 'stop after n clicks', positiveInt)
    .option('--duration <time>', 'stop after this long (e.g. 30s, 5m; up to 365 days)', durationIn(1, 365 * 86_400_000))
    .addOption(new Option('--key <strategy>', 'record key, and so partition: url, user or none').choices(['url', 'user', 'none']).default('url'))
    .option('--seed <n>', 'seed for a reproducible stream (default: random, printed)', nonNegativeInt)
    .option('--log <file>', 'record every sent click as a JSON line (partition, key, click)')
    .option('--topic <name>', 'topic to write', topics.clicks)
    .option('--urls <file>', 'url table whose row order is the popularity rank', urlsCsvPath)
    .option('--unknown-urls <n>', 'distinct urls missing from the table (up to 1000000)', intIn(0, 1_000_000), 50)
    .option('--unknown-share <share>', 'share of clicks on urls missing from the table', share, 0.05)
    .option('--zipf <exponent>', 'Zipf exponent of url popularity (0.01 to 10)', numberIn(0.01, 10), 1.1)
    .option('--users <n>', 'distinct users (up to 100000000)', intIn(1, 100_000_000), 10_000)
    .option('--max-disorder <time>', 'event times lag the clock by up to this (in bound; up to 1h)', durationIn(0, 3_600_000), 3_000)
    .option('--late-share <share>', `share of clicks older than the ${defaults.maxOutOfOrdernessMs / 1000} s bound`, share, 0.005)
    .option('--event-rate <n>', 'clicks per second of event time, up to 1000000 (default: --rate, or 1000 when --rate is 0)', numberIn(0.001, 1_000_000))
    .option('--start-time <ms>', 'event time of the first click in ms since the epoch, 2000-2100 (default: now, or in the past for a --rate 0 backlog)', intIn(946_684_800_000, 4_102_444_799_999))
    .addOption(brokersOption())
    .action(async (flags: ProduceFlags) => {
      await produce(flags);
    });
}

async function produce(flags: ProduceFlags): Promise<void> {
  if (flags.count === undefined && flags.duration === undefined && flags.rate === 0) {
    throw new UserError('BAD_FLAG', '--rate 0 (as fast as possible) needs --count or --duration');
  }
  const brokers = resolveBrokers(flags.brokers);
  const tableUrls = readUrlRows(flags.urls).map((row) => row.url);
  const partitions = await topicPartitions(brokers, flags.topic);
  const eventRate = flags.eventRate ?? (flags.rate > 0 ? flags.rate : 1000);
  // A backlog produced as fast as possible ends near now, as a real backlog would.
  const startMs = flags.startTime ?? (flags.rate === 0 && flags.count !== undefined ? Date.now() - Math.ceil((flags.count / eventRate) * 1000) : Date.now());
  const seed = flags.seed ?? Math.floor(Math.random() * 2 ** 31);
  const generator = new ClickGenerator({
    seed,
    tableUrls,
    unknownUrls: flags.unknownUrls,
    unknownShare: flags.unknownShare,
    zipfExponent: flags.zipf,
    users: flags.users,
    startMs,
    eventRate,
    maxDisorderMs: flags.maxDisorder,
    lateShare: flags.lateShare,
    lateBoundMs: defaults.maxOutOfOrdernessMs,
    keyBy: flags.key,
    partitions,
  });

  let interrupt: () => void = () => {};
  const stopSignal = new Promise<void>((resolve) => (interrupt = resolve));
  const onSigint = (): void => interrupt();
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigint);
  const tty = process.stderr.isTTY === true;
  const result = await sendClicks(generator, {
    brokers,
    topic: flags.topic,
    rate: flags.rate,
    ...(flags.count !== undefined ? { count: flags.count } : {}),
    ...(flags.duration !== undefined ? { durationMs: flags.duration } : {}),
    ...(flags.log !== undefined ? { logFile: flags.log } : {}),
    stopSignal,
    onProgress: (p) => {
      if (tty) process.stderr.write(`\r${progressLine(p)}   `);
    },
  });
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigint);
  if (tty) process.stderr.write('\n');
  const seconds = result.elapsedMs / 1000;
  const rate = Math.round(result.sent / Math.max(seconds, 0.001));
  process.stdout.write(
    `sent ${result.sent} clicks to ${flags.topic} (${partitions} partitions, key=${flags.key}, seed=${seed}) in ${seconds.toFixed(2)} s: ` +
      `${rate} clicks/s${result.stoppedEarly ? ' (interrupted)' : ''}${flags.log ? `; log ${flags.log}` : ''}\n`,
  );
}

function progressLine(p: SendProgress): string {
  const rate = Math.round(p.sent / Math.max(p.elapsedMs / 1000, 0.001));
  return `sent ${p.sent} clicks, ${rate} clicks/s, ${(p.elapsedMs / 1000).toFixed(0)} s`;
}

async function topicPartitions(brokers: string, topic: string): Promise<number> {
  const probe = new Producer(commonConfig(brokers, 'clickstream-producer-probe'));
  const metadata = await connectClient(probe, brokers);
  await disconnect(probe);
  const partitions = partitionCounts(metadata).get(topic);
  if (partitions === undefined) throw new UserError('TOPIC_MISMATCH', `topic ${topic} does not exist at ${brokers}; run "clickstream topics create" first`);
  return partitions;
}
