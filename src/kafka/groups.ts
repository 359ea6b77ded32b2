// Consumer group queries: who is in a job's group (is the job running? has it recovered?), and
// setting a group's committed offsets (a restored job's fallback offsets). One admin client is
// kept open for repeated queries: creating one per query in a loop is wasteful and fragile.

import { AdminClient, KafkaConsumer, commonConfig, connectClient, disconnect, type AdminClientHandle } from './clients.js';

export interface GroupState {
  /** librdkafka's ConsumerGroupStates: 3 is Stable. */
  state: number;
  clientIds: string[];
  /** Per member (in the order of clientIds): the partitions it holds. */
  assignments: Array<Array<{ topic: string; partition: number }>>;
}

export const GROUP_STABLE = 3;

export class GroupAdmin {
  private constructor(private readonly admin: AdminClientHandle) {}

  static open(brokers: string): GroupAdmin {
    return new GroupAdmin(AdminClient.create(commonConfig(brokers, 'clickstream-groups')));
  }

  describe(groupId: string): Promise<GroupState> {
    return new Promise((resolve, reject) =>
      this.admin.describeGroups([groupId], { timeout: 10_000 }, (err, result) => {
        if (err) return reject(err);
        const group = result.groups[0];
        const members = group?.members ?? [];
        resolve({
          state: Number(group?.state ?? 0),
          clientIds: members.map((m) => String(m.clientId ?? '')),
          assignments: members.map((m) => (m.assignment?.topicPartitions ?? []).map(({ topic, partition }) => ({ topic, partition }))),
        });
      }),
    );
  }

  async memberCount(groupId: string): Promise<number> {
    return (await this.describe(groupId)).clientIds.length;
  }

  /** Workers in a job's group: each joins as two members, one per stage (stage-consumers.ts). */
  async workerCount(groupId: string): Promise<number> {
    return Math.ceil((await this.memberCount(groupId)) / 2);
  }

  close(): void {
    this.admin.disconnect();
  }
}

export async function groupWorkerCount(brokers: string, groupId: string): Promise<number> {
  const admin = GroupAdmin.open(brokers);
  try {
    return await admin.workerCount(groupId);
  } finally {
    admin.close();
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
