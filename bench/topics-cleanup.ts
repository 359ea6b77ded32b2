// What a bench run leaves on the broker: every case writes ten or twelve topics of its own (most
// with 4 partitions), some 200 partitions per workload and run. A development broker that kept
// them all (1,192 topics after some weeks here) spent CPU on them in the background and served
// larger metadata, which later runs then measured as the job's cost: the 1-worker case of 2 M
// random clicks cost the broker 2.6 s there, and 1.5-1.9 s once they were deleted. So a run
// deletes what it created, after its last case (a deletion's work must not land in a case's
// broker CPU), and keeps only the preloaded backlog, which BENCH_PREFIX reuses.

import { AdminClient, CODES, commonConfig } from '../src/kafka/clients.js';

/** Topics a run created: every topic under a prefix of its own, or exactly these names. */
export type CreatedTopics = { underPrefix: string } | { named: string[] };

export interface Cleanup {
  deleted: number;
  /** Why a topic could not be deleted (an unknown topic, already being deleted, is none). */
  failures: string[];
}

const alreadyGone = new Set<number>([CODES.ERRORS.ERR_UNKNOWN_TOPIC_OR_PART, CODES.ERRORS.ERR__UNKNOWN_TOPIC]);

/** Deletes the topics `created` selects that exist; never throws (the bench's figures are out by then). */
export async function deleteBenchTopics(brokers: string, created: CreatedTopics[]): Promise<Cleanup> {
  const result: Cleanup = { deleted: 0, failures: [] };
  const admin = AdminClient.create(commonConfig(brokers, 'clickstream-bench-cleanup'));
  try {
    const topics = await new Promise<string[]>((resolve, reject) => admin.listTopics({ timeout: 10_000 }, (err, names) => (err ? reject(err) : resolve(names ?? []))));
    const chosen = (name: string) => created.some((c) => ('underPrefix' in c ? name.startsWith(c.underPrefix) : c.named.includes(name)));
    for (const name of topics.filter(chosen)) {
      const err = await new Promise<{ code?: number; message: string } | undefined>((resolve) => admin.deleteTopic(name, 30_000, (e) => resolve(e ?? undefined)));
      if (err === undefined) result.deleted++;
      else if (err.code === undefined || !alreadyGone.has(err.code)) result.failures.push(`${name}: ${err.message}`);
    }
  } catch (err) {
    result.failures.push(`listing topics: ${(err as Error).message}`);
  } finally {
    admin.disconnect();
  }
  return result;
}
