// What the integration tests leave on the broker: every test creates topics under a unique name
// (kafka.ts's uniqueName), some 300 per run. A development broker kept them all (1,250 topics
// after a few days here), spent CPU on them in the background and skewed the bench's broker
// figures. So `npm test` lists the topics before the integration tests (`before <file>`) and
// deletes, after them (`after <file>`), those created meanwhile under a test's unique name: a
// topic someone else created on a shared broker meanwhile is left alone.

import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { AdminClient, commonConfig } from '../../src/kafka/clients.js';
import { deleteBenchTopics } from '../../bench/topics-cleanup.js';

/** uniqueName's shape (name-<time base 36>-<6 hex digits>), alone or as a job's topic prefix. */
const TEST_TOPIC = /^[a-z][a-z0-9-]*-[0-9a-z]+-[0-9a-f]{6}(\.|$)/;

/** The topics a run created under a test's name: in `after`, not in `before`. Pure. */
export function createdByTests(before: string[], after: string[]): string[] {
  const existed = new Set(before);
  return after.filter((name) => !existed.has(name) && TEST_TOPIC.test(name));
}

function listTopics(brokers: string): Promise<string[]> {
  const admin = AdminClient.create(commonConfig(brokers, 'clickstream-test-topics'));
  return new Promise<string[]>((resolve, reject) =>
    admin.listTopics({ timeout: 10_000 }, (err, names) => {
      admin.disconnect();
      if (err) reject(err);
      else resolve(names ?? []);
    }),
  );
}

async function main(mode: string | undefined, file: string | undefined): Promise<void> {
  const brokers = process.env.KAFKA_BROKERS;
  if (brokers === undefined || file === undefined || (mode !== 'before' && mode !== 'after')) {
    process.stderr.write('usage: KAFKA_BROKERS=host:port node test-topics.js before|after <file>\n');
    process.exit(2);
  }
  const topics = await listTopics(brokers);
  if (mode === 'before') {
    writeFileSync(file, JSON.stringify(topics));
    return;
  }
  let before: string[];
  try {
    before = JSON.parse(readFileSync(file, 'utf8')) as string[];
  } catch {
    process.stderr.write('test-topics: no list of the topics before the tests; none deleted\n');
    return;
  }
  const created = createdByTests(before, topics);
  const { deleted, failures } = await deleteBenchTopics(brokers, [{ named: created }]);
  process.stderr.write(`test-topics: deleted the ${deleted} topics the integration tests created${failures.length > 0 ? `; not deleted: ${failures.length} (${failures[0]})` : ''}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv[2], process.argv[3]);
