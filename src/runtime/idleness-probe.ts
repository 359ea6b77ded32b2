// Idle partitions: a source task quiet for the idle timeout asks the broker whether its partition
// is caught up (nothing left to read); if so, the partition stops holding windows open (its task
// closes its panes and tells the merge partitions). The broker is asked, not a cached end offset:
// during a broker outage a stale "caught up" would close windows that the partition's unread
// records still belong to. The rule itself is topology/watermark.ts's IdlenessTracker.

import { tunables } from '../config.js';
import type { ConsumerClient } from '../kafka/clients.js';
import { logger } from '../log.js';
import type { BrokerHealth } from './outage.js';
import type { TaskManager } from './task-manager.js';
import type { SourceTask } from './tasks.js';

const log = logger('worker');

export class IdlenessProbe {
  /** When each quiet source partition last asked the broker whether it is caught up. */
  private readonly probedAt = new Map<number, number>();

  constructor(
    private readonly consumer: ConsumerClient,
    private readonly tasks: TaskManager,
    private readonly health: BrokerHealth,
  ) {
    // Quiet time during an outage does not count: producers may still be sending what they hold.
    health.onReachableAgain((nowMs) => {
      for (const task of tasks.sourceTasks) task?.idleness.postpone(nowMs);
    });
  }

  /** Returns true when a partition went idle and waits for a checkpoint (take one now). */
  async check(nowMs: number): Promise<boolean> {
    const due: SourceTask[] = [];
    for (const task of this.tasks.sourceTasks) {
      if (task === undefined || !task.idleness.quietLongEnough(nowMs)) continue;
      if (nowMs - (this.probedAt.get(task.partition) ?? 0) < tunables.idleProbeIntervalMs) continue;
      this.probedAt.set(task.partition, nowMs);
      due.push(task);
    }
    if (due.length === 0) return false;
    // All at once: during an outage each query takes its full timeout, and the loop must keep
    // serving rebalances.
    const caughtUp = await Promise.all(due.map((task) => this.caughtUp(task)));
    let awaitingCheckpoint = false;
    due.forEach((task, i) => {
      if (this.tasks.source(task.partition) !== task) return; // revoked meanwhile
      if (task.idleness.check(nowMs, caughtUp[i]!)) {
        task.topology.goIdle();
        log.info('partition idle', { partition: task.partition, watermarkMs: task.topology.watermarkMs });
        awaitingCheckpoint ||= task.topology.awaitingCheckpoint;
      }
    });
    return awaitingCheckpoint;
  }

  private async caughtUp(task: SourceTask): Promise<boolean> {
    let high: number;
    const startedMs = Date.now();
    try {
      high = await new Promise<number>((resolve, reject) =>
        this.consumer.queryWatermarkOffsets(task.topic, task.partition, 2_000, (err, offsets) => (err ? reject(err) : resolve(offsets.highOffset))),
      );
    } catch (err) {
      this.health.failed((err as Error).message);
      return false; // the broker does not answer: assume there is more to read
    }
    this.health.answered(startedMs);
    if (task.nextOffset !== undefined) return task.nextOffset >= high;
    return high === 0;
  }
}
