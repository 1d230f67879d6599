import { expect } from 'chai';
import { KeySpace } from '../../lib/redis/keys';
import { webhookUrlTag } from '../../lib/webhooks/delivery';
import { ids } from '../support/fixture';
import { until, usePrivateRedis } from '../support/redis';
import { joined, numDroppedSeen, useDeliveries } from './harness';
import { TestReceiver } from './receiver';

/** numDropped: each dead letter of a URL is reported once, by one later delivery to it. */
describe('webhook numDropped', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  const keys = new KeySpace('tc', 4);
  const { make } = useDeliveries(redis, keys);

  it('two lanes of one URL delivering at once report its dead letters once between them', async () => {
    const rx = new TestReceiver();
    rx.answer = (ev) => (ev.participant?.identity === 'poison' ? 400 : 200);
    await rx.start();
    try {
      const d = await make([rx.url]);
      const db = redis.client();
      const dropped = keys.webhookDropped(webhookUrlTag(rx.url));
      const N = 3;
      for (let k = 0; k < N; k++) await d.queueNotify(joined(ids.roomInfo('poison').name, 'poison'));
      await until(async () => Number(await db.get(dropped)) === N, `${N} dead letters counted`);
      // both deliveries are in flight together
      rx.delayMs = 300;
      const rooms = [ids.roomInfo('x').name, ids.roomInfo('y').name];
      await Promise.all(rooms.map((r) => d.queueNotify(joined(r, 'after'))));
      await until(() => rooms.every((r) => rx.roomSequence(r).length === 1), 'both lanes delivered');
      expect(numDroppedSeen(rx, rooms)).to.equal(N);
      expect(Number((await db.get(dropped)) ?? 0)).to.equal(0);
    } finally { await rx.stop(); }
  });

  it('a failed attempt puts back the count it took: its retry reports it, and the counter is gone after', async () => {
    const rx = new TestReceiver();
    rx.answer = (ev, attempt) => (ev.participant?.identity === 'poison' ? 400 : ev.participant?.identity === 'flaky' && attempt === 1 ? 503 : 200);
    await rx.start();
    try {
      const d = await make([rx.url]);
      const db = redis.client();
      const dropped = keys.webhookDropped(webhookUrlTag(rx.url));
      await d.queueNotify(joined(ids.roomInfo('poison').name, 'poison'));
      await d.queueNotify(joined(ids.roomInfo('poison').name, 'poison'));
      await until(async () => Number(await db.get(dropped)) === 2, 'two dead letters counted');
      const room = ids.roomInfo('flaky').name;
      const flaky = joined(room, 'flaky');
      await d.queueNotify(flaky);
      await until(() => rx.roomSequence(room).length === 1, 'the flaky event on its second attempt');
      expect(rx.attempts.get(flaky.id)).to.equal(2);
      expect(rx.received.find((e) => e.id === flaky.id)?.numDropped).to.equal(2);
      expect(await db.exists(dropped)).to.equal(0);
    } finally { await rx.stop(); }
  });
});
