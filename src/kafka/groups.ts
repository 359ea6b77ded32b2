// Consumer group queries: how many members a job's group has (is the job running?), and setting
// a group's committed offsets (a restored job's fallback offsets).

import { AdminClient, KafkaConsumer, commonConfig, connectClient, disconnect } from './clients.js';

export async function groupMemberCount(brokers: string, groupId: string): Promise<number> {
  const admin = AdminClient.create(commonConfig(brokers, 'clickstream-groups'));
  try {
    const result = await new Promise<{ groups: Array<{ members: unknown[] }> }>((resolve, reject) =>
      admin.describeGroups([groupId], { timeout: 10_000 }, (err, descriptions) => (err ? reject(err) : resolve(descriptions))),
    );
    return result.groups[0]?.members.length ?? 0;
  } finally {
    admin.disconnect();
  }
}

/** Commits offsets for a group that has no members (they would overwrite them). */
export async function commitGroupOffsets(brokers: string, groupId: string, offsets: Array<{ topic: string; partition: number; offset: number }>): Promise<void> {
  if (offsets.length === 0) return;
  const consumer = new KafkaConsumer({ ...commonConfig(brokers, 'clickstream-restore'), 'group.id': groupId, 'enable.auto.commit': false }, {});
  await connectClient(consumer, brokers);
  try {
    consumer.commitSync(offsets);
  } finally {
    await disconnect(consumer);
  }
}
