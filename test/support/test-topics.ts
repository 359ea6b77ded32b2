// What the integration tests leave on the broker: every test creates topics under a unique name
// (kafka.ts's uniqueName), some 750 per run. A development broker kept them all (1,250 topics
// after a few days here), spent CPU on them in the background and skewed the bench's broker
// figures. So `npm test` gives its run a token (CLICKSTREAM_TEST_RUN, in every unique name), lists
// the topics before the integration tests (`before <file>`) and deletes, after them (`after
// <file>`), those created meanwhile under a name carrying the token: topics of another test run
// on the same broker, or anyone else's, are left alone.

import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { AdminClient, commonConfig } from '../../src/kafka/clients.js';
import { deleteBenchTopics } from '../../bench/topics-cleanup.js';

/** A run's token: what test.sh makes (`t` and 6 hex digits). */
const RUN_TOKEN = /^t[0-9a-f]{6}$/;

/**
 * The topics a run created: in `after`, not in `before`, named by uniqueName with the run's token
 * (`<name>-<token>-<time base 36>-<6 hex>`, alone or as a job's topic prefix). Pure.
 */
export function createdByTests(before: string[], after: string[], run: string): string[] {
  if (!RUN_TOKEN.test(run)) return [];
  const name = new RegExp(`^[a-z][a-z0-9-]*-${run}-[0-9a-z]+-[0-9a-f]{6}(\\.|$)`);
  const existed = new Set(before);
  return after.filter((topic) => !existed.has(topic) && name.test(topic));
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
  const run = process.env.CLICKSTREAM_TEST_RUN ?? '';
  if (brokers === undefined || file === undefined || (mode !== 'before' && mode !== 'after')) {
    process.stderr.write('usage: KAFKA_BROKERS=host:port CLICKSTREAM_TEST_RUN=t<6 hex> node test-topics.js before|after <file>\n');
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
  const created = createdByTests(before, topics, run);
  const { deleted, failures } = await deleteBenchTopics(brokers, [{ named: created }]);
  process.stderr.write(`test-topics: deleted the ${deleted} topics the integration tests created${failures.length > 0 ? `; not deleted: ${failures.length} (${failures[0]})` : ''}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv[2], process.argv[3]);
