// What a bench run leaves on the broker: every case writes a dozen topics of its own (4
// partitions each), about 250 partitions per workload and run. A development broker that kept
// them all (1,192 topics after some weeks here) spent CPU on them in the background and served
// larger metadata, which later runs then measured as the job's cost: the 1-worker case of 2 M
// random clicks cost the broker 2.6 s there, and 1.5-1.9 s once they were deleted. So a run
// deletes what it created, after its last case (a deletion's work must not land in a case's
// broker CPU), and keeps only the preloaded backlog, which BENCH_PREFIX reuses.

import { AdminClient, commonConfig } from '../src/kafka/clients.js';

/** Deletes every topic named `${prefix}...` except `keep`; returns how many it deleted. */
export async function deleteBenchTopics(brokers: string, prefix: string, keep?: string): Promise<number> {
  const admin = AdminClient.create(commonConfig(brokers, 'clickstream-bench-cleanup'));
  try {
    const topics = await new Promise<string[]>((resolve, reject) => admin.listTopics({ timeout: 10_000 }, (err, names) => (err ? reject(err) : resolve(names ?? []))));
    const doomed = topics.filter((name) => name.startsWith(prefix) && name !== keep);
    let deleted = 0;
    for (const name of doomed) {
      // A topic already on its way out (deleted under a shorter prefix a moment ago) is not an error.
      const failed = await new Promise<boolean>((resolve) => admin.deleteTopic(name, 30_000, (err) => resolve(Boolean(err))));
      if (!failed) deleted++;
    }
    return deleted;
  } finally {
    admin.disconnect();
  }
}
