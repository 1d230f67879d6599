import { expect } from 'chai';
import { KeySpace } from '../../lib/redis/keys';
import { webhookLaneId } from '../../lib/webhooks/delivery';
import { ids } from '../support/fixture';
import { until, usePrivateRedis } from '../support/redis';
import { joined, useDeliveries } from './harness';
import { TestReceiver } from './receiver';

/** A lane's seen ids (its dedupe) last the dedupe window, then the idle lane leaves no keys. */
describe('webhook dedupe window', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  const keys = new KeySpace('tc', 4);
  const { make } = useDeliveries(redis, keys);

  it('an idle lane\'s seen ids expire after the window; an id queued again within it is refused', async () => {
    const rx = new TestReceiver();
    await rx.start();
    try {
      const d = await make([rx.url], { dedupeWindowMs: 1000 });
      const db = redis.client();
      const room = ids.roomInfo('idle').name;
      const lane = keys.webhookLane(webhookLaneId(rx.url, `room:${room}`));
      const ev = joined(room, 'once');
      ev.id = ids.of('EV_', 'idle');
      await d.queueNotify(ev.clone());
      await until(() => rx.roomSequence(room).length === 1, 'the delivery');
      // BullMQ's own records of the lane's run gone (as its retention removes them): only the seen ids refuse it
      await until(async () => (await db.exists(lane.run)) === 0, 'the run to complete');
      await d.queue.clean(0, 1000, 'completed');
      await d.queueNotify(ev.clone());
      await d.queueNotify(joined(room, 'next'));
      await until(() => rx.roomSequence(room).length === 2, 'the next event');
      expect(rx.roomSequence(room)).to.deep.equal(['once', 'next']);
      expect(rx.attempts.get(ev.id)).to.equal(1);
      await until(async () => (await db.exists(lane.seen, lane.fifo, lane.events)) === 0, 'the idle lane to leave no keys', 5000);
    } finally { await rx.stop(); }
  });

  it('an id queued again after the window, while BullMQ still keeps its finished job, does not hold up its lane', async () => {
    const rx = new TestReceiver();
    await rx.start();
    try {
      const d = await make([rx.url], { dedupeWindowMs: 1000 });
      const db = redis.client();
      const room = ids.roomInfo('late').name;
      const lane = keys.webhookLane(webhookLaneId(rx.url, `room:${room}`));
      const ev = joined(room, 'first');
      ev.id = ids.of('EV_', 'late');
      await d.queueNotify(ev.clone());
      await until(() => rx.roomSequence(room).length === 1, 'the delivery');
      await until(async () => (await db.exists(lane.seen)) === 0, 'the seen ids to expire', 5000);
      await d.queueNotify(ev.clone());
      await d.queueNotify(joined(room, 'next'));
      await until(() => rx.roomSequence(room).includes('next'), 'the event behind the id queued again');
      await until(async () => (await db.exists(lane.fifo, lane.events)) === 0, 'the lane to empty');
    } finally { await rx.stop(); }
  });
});
