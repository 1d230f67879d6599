import { Worker } from 'bullmq';
import { expect } from 'chai';
import { bullConnection, closeBullConnection } from '../../lib/redis/connection';
import { KeySpace } from '../../lib/redis/keys';
import { WEBHOOK_QUEUE, webhookLaneId, webhookUrlTag, type DeliveryJob } from '../../lib/webhooks/delivery';
import { until, usePrivateRedis } from '../support/redis';
import { joined, numDroppedSeen, useDeliveries } from './harness';
import { TestReceiver } from './receiver';

/**
 * A lane head that BullMQ itself fails (stalled too often), without our processor's
 * give-up path. Its own redis-server: BullMQ's stall checker runs at most once per
 * stalledInterval per queue, and other tests' workers would hold that slot.
 */
describe('webhook lane whose head BullMQ fails for stalling', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  const keys = new KeySpace('tc', 4);
  const deliveries = useDeliveries(redis, keys);

  it('is passed: the events behind it go out in order, and it is one dead letter', async () => {
    const rx = new TestReceiver();
    await rx.start();
    // a node that takes the head and dies: its lock lapses and BullMQ's stall checker condemns the job
    const connection = bullConnection(redis.target);
    const dying = new Worker<DeliveryJob>(WEBHOOK_QUEUE, null, {
      connection, prefix: keys.bullPrefix(),
      autorun: false, lockDuration: 300, stalledInterval: 100, maxStalledCount: 0,
    });
    try {
      const producer = await deliveries.make([rx.url], {}, false);
      const room = 'stall';
      const head = joined(room, 'stalls');
      await producer.queueNotify(head);
      const taken = await dying.getNextJob('dying-node', { block: false });
      expect(taken?.id).to.equal(`${head.id}.0`);
      await dying.startStalledCheckTimer();
      await until(async () => (await producer.queue.getJobState(taken!.id!)) === 'waiting', 'the stall checker to move the head back');
      await dying.close();
      const behind = ['f1', 'f2', 'f3', 'f4', 'f5'];
      for (const who of behind) await producer.queueNotify(joined(room, who));
      // the next node to take the head fails it at once (BullMQ's deferred stall failure);
      // two nodes, so followers may find the failed head at the same moment
      await deliveries.make([rx.url]);
      await deliveries.make([rx.url]);
      await until(() => rx.roomSequence(room).length === behind.length, 'the events behind the failed head', 20_000);
      expect(rx.roomSequence(room)).to.deep.equal(behind);
      const failed = (await producer.queue.getJob(taken!.id!))!;
      expect(await failed.getState()).to.equal('failed');
      expect(failed.failedReason).to.match(/stalled more than allowable limit/);
      expect(rx.attempts.has(head.id)).to.equal(false);
      expect(deliveries.deadLetters()).to.equal(1);
      expect(numDroppedSeen(rx, [room])).to.equal(1);
      // marked as given up, so a retry from the dashboard sends it out of turn
      expect(failed.data.deadLettered).to.equal(true);
      const db = redis.client();
      const lane = keys.webhookLane(webhookLaneId(rx.url, `room:${room}`));
      // one key at a time: the lane and the URL's count are in different hash slots
      for (const key of [lane.fifo, lane.events, keys.webhookDropped(webhookUrlTag(rx.url))]) expect(await db.exists(key), key).to.equal(0);
    } finally {
      await dying.close();
      await closeBullConnection(connection); // a cluster's client BullMQ was given stays open
      await rx.stop();
    }
  });
});
