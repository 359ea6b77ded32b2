// Creates the job's topics if missing and reports what exists. Idempotent: an existing topic is
// left as it is (its partition count is reported, never changed behind the user's back).

import type { ChangelogTopics, TopicNames } from '../config.js';
import { AdminClient, CODES, Producer, commonConfig, connectClient, disconnect, partitionCounts, type Metadata } from './clients.js';
import { UserError } from '../errors.js';

export interface TopicPlan {
  name: string;
  partitions: number;
  config?: Record<string, string>;
}

export interface TopicReport {
  name: string;
  partitions: number;
  created: boolean;
  /** Partition count asked for, when an existing topic has another. */
  wantedPartitions?: number;
}

const changelogConfig = { 'cleanup.policy': 'compact', 'segment.bytes': String(64 * 1024 * 1024) };

/**
 * A job's changelog topics, created by its workers (and by restore) when missing, since they
 * belong to one job id. Compacted: the latest value of every state key survives, so a task's
 * state can be rebuilt on any machine (state/changelog.ts); smaller segments let the cleaner
 * reach them sooner.
 */
export function changelogTopics(names: ChangelogTopics, clicksPartitions: number, mergePartitions: number): TopicPlan[] {
  return [
    { name: names.source, partitions: clicksPartitions, config: changelogConfig },
    { name: names.merge, partitions: mergePartitions, config: changelogConfig },
  ];
}

/** Every topic the job reads or writes; the internal partials topic matches `clicks` partitions. */
export function jobTopics(topics: TopicNames, clicksPartitions: number): TopicPlan[] {
  return [
    { name: topics.clicks, partitions: clicksPartitions },
    { name: topics.counts, partitions: clicksPartitions },
    { name: topics.total, partitions: 1 },
    { name: topics.urlStats, partitions: clicksPartitions },
    { name: topics.late, partitions: clicksPartitions },
    { name: topics.deadLetter, partitions: 1 },
    { name: topics.partials, partitions: clicksPartitions },
    { name: topics.control, partitions: 1 },
    { name: topics.savepoints, partitions: 1 },
    // Compacted: a reader (the dashboard) finds every worker's latest status from the start.
    { name: topics.status, partitions: 1, config: { 'cleanup.policy': 'compact', 'segment.ms': '600000' } },

  ];
}

export async function ensureTopics(brokers: string, plans: TopicPlan[]): Promise<TopicReport[]> {
  // A producer's connect proves the broker answers and brings the current metadata with it.
  const probe = new Producer(commonConfig(brokers, 'clickstream-topics'));
  const metadata = await connectClient(probe, brokers);
  await disconnect(probe);
  const existing = partitionCounts(metadata);

  const admin = AdminClient.create(commonConfig(brokers, 'clickstream-admin'));
  try {
    const reports: TopicReport[] = [];
    for (const plan of plans) {
      const have = existing.get(plan.name);
      if (have !== undefined) {
        reports.push({ name: plan.name, partitions: have, created: false, ...(have !== plan.partitions ? { wantedPartitions: plan.partitions } : {}) });
        continue;
      }
      const created = await createTopic(admin, plan);
      reports.push({ name: plan.name, partitions: plan.partitions, created });
    }
    return reports;
  } finally {
    admin.disconnect();
  }
}

/**
 * Rescale: creates the topics of `plans` that are missing and adds partitions to those that have
 * fewer than planned (never fewer: Kafka cannot remove partitions), then waits until the
 * metadata shows every topic at its count. Returns, per topic, the count it had before.
 */
export async function growTopics(brokers: string, plans: TopicPlan[]): Promise<Map<string, number>> {
  const reports = await ensureTopics(brokers, plans);
  const before = new Map(reports.map((r) => [r.name, r.created ? 0 : r.partitions]));
  const admin = AdminClient.create(commonConfig(brokers, 'clickstream-admin'));
  try {
    for (const report of reports) {
      if (report.wantedPartitions === undefined || report.wantedPartitions < report.partitions) continue;
      await new Promise<void>((resolve, reject) =>
        admin.createPartitions(report.name, report.wantedPartitions!, 30_000, (err) => (err ? reject(new Error(`cannot add partitions to ${report.name}: ${err.message}`)) : resolve())),
      );
    }
  } finally {
    admin.disconnect();
  }
  const probe = new Producer(commonConfig(brokers, 'clickstream-topics'));
  try {
    let metadata = await connectClient(probe, brokers);
    for (const deadline = Date.now() + 30_000; ; ) {
      const counts = partitionCounts(metadata);
      const short = plans.filter((plan) => (counts.get(plan.name) ?? 0) < plan.partitions);
      if (short.length === 0) return before;
      if (Date.now() > deadline) throw new Error(`topics not grown after 30 s: ${short.map((p) => p.name).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
      metadata = await new Promise<Metadata>((resolve, reject) => probe.getMetadata({ timeout: 5_000 }, (err, m) => (err ? reject(err) : resolve(m))));
    }
  } finally {
    await disconnect(probe);
  }
}

function createTopic(admin: ReturnType<typeof AdminClient.create>, plan: TopicPlan): Promise<boolean> {
  return new Promise((resolve, reject) => {
    admin.createTopic(
      { topic: plan.name, num_partitions: plan.partitions, replication_factor: -1, config: plan.config ?? {} },
      10_000,
      (err) => {
        if (!err) resolve(true);
        else if (err.code === CODES.ERRORS.ERR_TOPIC_ALREADY_EXISTS) resolve(false); // raced another creator
        else reject(new Error(`cannot create topic ${plan.name}: ${err.message}`));
      },
    );
  });
}

export function formatTopicReport(reports: TopicReport[]): string {
  const width = Math.max(...reports.map((r) => r.name.length));
  return reports
    .map((r) => {
      const state = r.created ? 'created' : 'exists';
      const note = r.wantedPartitions !== undefined ? ` (asked for ${r.wantedPartitions}; left unchanged)` : '';
      return `${r.name.padEnd(width)}  ${String(r.partitions).padStart(3)} partitions  ${state}${note}`;
    })
    .join('\n');
}

/**
 * The partition count of each of `names`, from a connected client's `metadata`. Topics created a
 * moment ago (a broker that just started) can be missing from the first metadata: it looks again
 * for a few seconds before calling them missing (a UserError naming them).
 */
export async function partitionsOfTopics(client: MetadataClient, brokers: string, names: string[], metadata: Metadata): Promise<Map<string, number>> {
  const missingIn = (m: Metadata) => names.filter((topic) => !partitionCounts(m).has(topic));
  for (const deadline = Date.now() + 10_000; missingIn(metadata).length > 0 && Date.now() < deadline; ) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    metadata = await new Promise<Metadata>((resolve, reject) => client.getMetadata({ timeout: 5_000 }, (err, m) => (err ? reject(err) : resolve(m))));
  }
  const missing = missingIn(metadata);
  if (missing.length > 0) throw new UserError('TOPIC_MISMATCH', `topics missing at ${brokers}: ${missing.join(', ')}; run "clickstream topics create" first`);
  return partitionCounts(metadata);
}

interface MetadataClient {
  getMetadata(options: { timeout: number }, cb: (err: { message: string } | null, metadata: Metadata) => void): unknown;
}
