// Prints a consumer group's state and member client ids as JSON, then exits. The chaos harness
// runs it as a child process so that its own process holds no Kafka client across broker
// restarts (librdkafka's admin client crashed the harness there).

import { GroupAdmin } from '../src/kafka/groups.js';

const [brokers, groupId] = process.argv.slice(2);
const admin = GroupAdmin.open(brokers!);
try {
  process.stdout.write(JSON.stringify(await admin.describe(groupId!)) + '\n');
} finally {
  admin.close();
}
process.exit(0);
