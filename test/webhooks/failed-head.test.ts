import { Worker } from 'bullmq';
import { expect } from 'chai';
import { bullConnection, closeBullConnection } from '../../lib/redis/connection';
import { KeySpace } from '../../lib/redis/keys';
import { RUN, WEBHOOK_QUEUE, webhookLaneId, webhookUrlTag, type DeliveryJob } from '../../lib/webhooks/delivery';
import { until, usePrivateRedis } from '../support/redis';
import { joined, numDroppedSeen, useDeliveries } from './harness';
import { TestReceiver } from './receiver';

/**
 * A lane's run that BullMQ itself fails (stalled too often, as a node with BullMQ's default
 * maxStalledCount decides), without our processor. Its own redis-server: BullMQ's stall
 * checker runs at most once per stalledInterval per queue, and other tests' workers would
 * hold that slot.
 */
describe('webhook lane whose run BullMQ fails for stalling', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  const keys = new KeySpace('tc', 4);
  const deliveries = useDeliveries(redis, keys);

  it('gets a new run: its events, the head first, go out in order, and nothing is a dead letter', async () => {
    const rx = new TestReceiver();
    await rx.start();
    // a node that takes the run and dies: its lock lapses and BullMQ's stall checker condemns the job
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
      const db = redis.client();
      const lane = keys.webhookLane(webhookLaneId(rx.url, `room:${room}`));
      const runId = await db.hget(lane.run, 'job');
      const taken = await dying.getNextJob('dying-node', { block: false });
      expect(taken?.name).to.equal(RUN);
      expect(taken?.id).to.equal(runId);
      await dying.startStalledCheckTimer();
      await until(async () => (await producer.queue.getJobState(taken!.id!)) === 'waiting', 'the stall checker to move the run back');
      await dying.close();
      const behind = ['f1', 'f2', 'f3', 'f4', 'f5'];
      for (const who of behind) await producer.queueNotify(joined(room, who));
      // the next node to take the run fails it at once (BullMQ's deferred stall failure);
      // two nodes, so both may find the failed run at the same moment
      await deliveries.make([rx.url]);
      await deliveries.make([rx.url]);
      await until(() => rx.roomSequence(room).length === 1 + behind.length, 'the lane\'s events under a new run', 20_000);
      expect(rx.roomSequence(room)).to.deep.equal(['stalls', ...behind]);
      const failed = (await producer.queue.getJob(taken!.id!))!;
      expect(await failed.getState()).to.equal('failed');
      expect(failed.failedReason).to.match(/stalled more than allowable limit/);
      expect(rx.attempts.get(head.id)).to.equal(1);
      expect(deliveries.deadLetters()).to.equal(0);
      expect(numDroppedSeen(rx, [room])).to.equal(0);
      // one new run took over (the two nodes did not both make one)
      const runs = (await producer.queue.getJobs(['completed', 'active', 'waiting', 'delayed'])).filter((j) => j.name === RUN);
      expect(runs.map((j) => j.id)).to.have.length(1).and.not.include(taken!.id);
      // one key at a time: the lane and the URL's count are in different hash slots
      await until(async () => (await db.exists(lane.run)) === 0, 'the run to end');
      for (const key of [lane.fifo, lane.events, lane.run, keys.webhookDropped(webhookUrlTag(rx.url))]) expect(await db.exists(key), key).to.equal(0);
    } finally {
      await dying.close();
      await closeBullConnection(connection); // a cluster's client BullMQ was given stays open
      await rx.stop();
    }
  });
});
