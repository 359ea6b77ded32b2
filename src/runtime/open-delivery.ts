// Builds the worker's delivery mode and the output sink that writes through its producer: the one
// place that knows which mode a worker runs (from then on the loop only sees DeliveryMode).

import { UserError } from '../errors.js';
import { ChangelogWriter } from '../kafka/changelog-writer.js';
import type { TransactionalIdentity } from '../state/worker-slot.js';
import { Producer, connectClient, disconnect } from '../kafka/clients.js';
import type { MemberOf } from '../kafka/stage-consumers.js';
import { AtLeastOnce } from './at-least-once.js';
import type { CheckpointedTask } from './checkpoint.js';
import type { DeliveryMode } from './delivery-mode.js';
import { ExactlyOnce } from './exactly-once.js';
import type { BrokerHealth } from './outage.js';
import { OutputSink, type RefusedRecord } from './output-sink.js';
import type { Task } from './tasks.js';

export interface DeliveryOptions {
  exactlyOnce: boolean;
  brokers: string;
  clientId: string;
  producerSettings: Record<string, string | number | boolean>;
  /**
   * How long an open transaction may last (the outputs' with exactly-once, the changelog's
   * otherwise). A worker killed with one open holds its partitions' committed offsets unreadable
   * this long, plus the broker's abort check: a new owner of its tasks waits that out.
   */
  transactionTimeoutMs: number;
  /** The worker's transactional identity (with exactly-once or the changelog, which need one). */
  identity: TransactionalIdentity | undefined;
  /** The worker's member of the group that owns a topic's partitions. */
  memberOf: MemberOf;
  /** The worker's open tasks, and their reopening after an aborted transaction (asked only once running). */
  tasks(): Task[];
  reopenTasks(): Promise<number>;
  health: BrokerHealth;
  pauseFetching(paused: boolean): void;
  /** A record the producer refused for what it is (too large, invalid): dead-letter it. */
  onRefused: RefusedRecord;
  /** With the changelog: who writes, and each task's changelog topic. */
  changelog: { writerId: string; topicOf: (task: CheckpointedTask) => string } | undefined;
}

export async function openDelivery(options: DeliveryOptions): Promise<{ delivery: DeliveryMode; sink: OutputSink }> {
  try {
    return await open(options);
  } catch (err) {
    // A broker configured below its default maximum refuses the transaction timeout fatally: say
    // which flag the user can change rather than relay librdkafka's words.
    if (err instanceof Error && err.message.includes('max.transaction.timeout.ms')) {
      const seconds = Math.round(options.transactionTimeoutMs / 1000);
      throw new UserError('BROKER_LIMIT', `the broker refuses transactions of ${seconds} s (its max.transaction.timeout.ms is lower): shorten --checkpoint-interval (transactions last 3 intervals + 10 s, at most 15 min) or raise that broker setting`);
    }
    throw err;
  }
}

async function open(options: DeliveryOptions): Promise<{ delivery: DeliveryMode; sink: OutputSink }> {
  const { brokers, memberOf, health, changelog } = options;
  if (options.exactlyOnce) {
    let sink: OutputSink | undefined;
    const delivery: ExactlyOnce = new ExactlyOnce({
      brokers,
      producerSettings: options.producerSettings,
      transactionTimeoutMs: options.transactionTimeoutMs,
      identity: options.identity!,
      memberOf,
      get sink(): OutputSink {
        return sink!;
      },
      health,
      tasks: options.tasks,
      reopenTasks: options.reopenTasks,
      pauseFetching: options.pauseFetching,
      changelog,
      onClientError: (err) => health.clientError(err),
    });
    sink = new OutputSink(delivery.producer, (err) => delivery.produceFailed(err), options.onRefused);
    await delivery.connect();
    return { delivery, sink };
  }
  const producer = new Producer(options.producerSettings);
  // Both connect at once (the changelog's transactional registration is the slower); one that
  // fails leaves nothing connected behind.
  const [connected, registered] = await Promise.allSettled([
    connectClient(producer, brokers),
    changelog !== undefined ? ChangelogWriter.open(brokers, `${options.clientId}-changelog`, options.identity!, options.transactionTimeoutMs) : undefined,
  ]);
  if (connected.status === 'rejected' || registered.status === 'rejected') {
    await disconnect(producer);
    if (registered.status === 'fulfilled') await registered.value?.close();
    throw connected.status === 'rejected' ? connected.reason : (registered as PromiseRejectedResult).reason;
  }
  const writer = registered.value;
  producer.on('event.error', (err) => health.clientError(err));
  const sink = new OutputSink(producer, () => false, options.onRefused);
  const delivery = new AtLeastOnce(producer, memberOf, sink, writer !== undefined && changelog !== undefined ? { writer, ...changelog } : undefined);
  return { delivery, sink };
}
