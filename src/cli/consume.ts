// `clickstream consume`: reads the job's output topics and prints one decoded line per record.

import { Command } from 'commander';
import { resolveBrokers } from '../config.js';
import { outputCodecs } from '../codec/messages.js';
import { KafkaConsumer, commonConfig, connectClient, disconnect, partitionCounts } from '../kafka/clients.js';
import { UserError } from '../errors.js';
import { printable, printableJson } from '../printable.js';
import { brokersOption, topicPrefix } from './options.js';

interface ConsumeFlags {
  fromBeginning: boolean;
  json: boolean;
  group?: string;
  topicPrefix: string;
  brokers?: string;
}

export function consumeCommand(): Command {
  return new Command('consume')
    .description('print the records of the job output topics (default: counts and total)')
    .argument('[topics...]', `topics to read: ${Object.keys(outputCodecs).join(', ')}`)
    .option('--from-beginning', 'read each topic from its first record', false)
    .option('--json', 'one JSON object per line instead of readable text', false)
    .option('--group <id>', 'consumer group (default: a fresh one, nothing committed)')
    .option('--topic-prefix <prefix>', 'prefix of the topic names (several jobs on one cluster)', topicPrefix, '')
    .addOption(brokersOption())
    .action(async (names: string[], flags: ConsumeFlags) => {
      await consume(names.length > 0 ? names : ['counts', 'total'], flags);
    });
}

async function consume(names: string[], flags: ConsumeFlags): Promise<void> {
  for (const name of names) {
    if (!(name in outputCodecs)) throw new UserError('BAD_FLAG', `cannot decode topic "${name}"; known: ${Object.keys(outputCodecs).join(', ')}`);
  }
  const brokers = resolveBrokers(flags.brokers);
  const codecByTopic = new Map(names.map((name) => [flags.topicPrefix + name, outputCodecs[name]!]));
  const baseName = new Map(names.map((name) => [flags.topicPrefix + name, name]));
  const topicList = [...codecByTopic.keys()];
  const consumer = new KafkaConsumer(
    {
      ...commonConfig(brokers, 'clickstream-consume'),
      'group.id': flags.group ?? `clickstream-consume-${process.pid}-${Date.now()}`,
      'enable.auto.commit': flags.group !== undefined,
    },
    { 'auto.offset.reset': flags.fromBeginning ? 'earliest' : 'latest' },
  );
  const metadata = await connectClient(consumer, brokers);
  const existing = partitionCounts(metadata);
  const missing = topicList.filter((name) => !existing.has(name));
  if (missing.length > 0) {
    await disconnect(consumer);
    throw new UserError('TOPIC_MISMATCH', `topic ${missing.join(', ')} does not exist at ${brokers}; run "clickstream topics create" first`);
  }
  consumer.subscribe(topicList);

  let stopping = false;
  const stop = (): void => {
    stopping = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  while (!stopping) {
    const messages = await new Promise<import('@confluentinc/kafka-javascript').Message[]>((resolve, reject) =>
      consumer.consume(1000, (err, batch) => (err ? reject(err) : resolve(batch))),
    );
    let out = '';
    for (const message of messages) {
      if (!message.value) continue;
      const codec = codecByTopic.get(message.topic)!;
      let value: Record<string, unknown>;
      try {
        value = codec.toPlain(codec.decode(message.value));
      } catch {
        // Anyone who can write to the topic can write a record that is not an output: skip it.
        skippedNote(`clickstream: skipped a record of ${message.topic} at offset ${message.offset} that does not decode\n`);
        continue;
      }
      out += (flags.json ? printableJson(JSON.stringify({ topic: message.topic, ...value })) : readable(baseName.get(message.topic)!, value)) + '\n';
    }
    if (out !== '' && !process.stdout.write(out)) await new Promise((resolve) => process.stdout.once('drain', resolve));
  }
  await disconnect(consumer);
}

/** One note on stderr per 10 s at most, however many bad records come. */
let lastNoteAt = 0;
function skippedNote(text: string): void {
  if (Date.now() - lastNoteAt < 10_000) return;
  lastNoteAt = Date.now();
  process.stderr.write(printable(text.trimEnd()) + '\n');
}

function window(start: unknown, end: unknown): string {
  const iso = (ms: unknown): string => (Math.abs(Number(ms)) <= 8.64e15 ? new Date(Number(ms)).toISOString().slice(11, 19) : '?');
  return `[${iso(start)}–${iso(end)})`;
}

/**
 * Where a result stands among its window's corrections: nothing for a result that is the first
 * and final one (no allowed lateness, or the window was complete at once), else "r<revision>",
 * with "final" on the last. Readers keep the highest revision of each window and key.
 */
export function revisionLabel(revision: unknown, final: unknown): string {
  const number = Number(revision ?? 0);
  if (number === 0 && final === true) return '';
  return `  r${Number.isSafeInteger(number) ? number : '?'}${final === true ? ' final' : ''}`;
}

function readable(topic: string, v: Record<string, unknown>): string {
  const revision = revisionLabel(v.revision, v.final);
  switch (topic) {
    case 'counts':
      return `counts    ${window(v.windowStart, v.windowEnd)}  ${String(v.count).padStart(7)}  ${printable(String(v.url))}${revision}`;
    case 'total':
      return `total     ${window(v.windowStart, v.windowEnd)}  ${String(v.count).padStart(7)}  all clicks${revision}`;
    default:
      return `url-stats ${window(v.windowStart, v.windowEnd)}  ${String(v.count).padStart(7)}  ${printable(String(v.url))}  ${v.known ? `${printable(String(v.title))} (${printable(String(v.category))})` : '(unknown url)'}${revision}`;
  }
}
