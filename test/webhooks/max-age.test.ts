import { expect } from 'chai';
import { DEAD_LETTER, webhookLaneId, type DeadLetterJob } from '../../lib/webhooks/delivery';
import { ids } from '../support/fixture';
import { until } from '../support/redis';
import { joined, useReceiverDeliveries } from './harness';

/** WEBHOOK_MAX_AGE: an event too old to be worth sending is a dead letter instead. */
describe('webhook WEBHOOK_MAX_AGE', function () {
  this.timeout(60_000);
  const { deliveries, rx } = useReceiverDeliveries();

  const deadLettersOf = async (d: Awaited<ReturnType<typeof deliveries.make>>, room: string) =>
    (await d.queue.getFailed()).filter((j) => j.name === DEAD_LETTER && (j.data as DeadLetterJob).lane === webhookLaneId(rx.url, `room:${room}`));
  const expired = () => deliveries.made().reduce((sum, d) => sum + d.metrics.expired, 0);

  it('dead-letters a stale event when its turn comes, unsent, and delivers the next, which reports it', async () => {
    const d = await deliveries.make([rx.url], { maxAgeMs: 5000 });
    const room = ids.roomInfo('stale').name;
    const stale = joined(room, 'stale');
    stale.createdAt = BigInt(Math.floor(Date.now() / 1000) - 60); // made a minute ago, relayed only now
    const fresh = joined(room, 'fresh');
    await d.queueNotify(stale);
    await d.queueNotify(fresh);
    await until(() => rx.roomSequence(room).length === 1, 'the fresh event');
    expect(rx.roomSequence(room)).to.deep.equal(['fresh']);
    expect(rx.attempts.has(stale.id)).to.equal(false);
    expect(rx.received.find((e) => e.id === fresh.id)?.numDropped).to.equal(1);
    const dead = await deadLettersOf(d, room);
    expect(dead.map((j) => j.id)).to.deep.equal([`${stale.id}.0`]);
    expect(dead[0].failedReason).to.match(/older than WEBHOOK_MAX_AGE/);
    expect(expired()).to.equal(1);
    expect(deliveries.deadLetters()).to.equal(1);
  });

  it('dead-letters a failed event at once when its retry would come after the limit', async () => {
    rx.answer = (ev) => (ev.participant?.identity === 'flaky' ? 503 : 200);
    try {
      const d = await deliveries.make([rx.url], { maxAgeMs: 1500, baseBackoffMs: 5000, maxBackoffMs: 5000 });
      const room = ids.roomInfo('late').name;
      const flaky = joined(room, 'flaky');
      await d.queueNotify(flaky);
      await d.queueNotify(joined(room, 'next'));
      await until(() => rx.roomSequence(room).length === 1, 'the next event');
      expect(rx.attempts.get(flaky.id)).to.equal(1);
      const dead = await deadLettersOf(d, room);
      expect(dead.map((j) => j.id)).to.deep.equal([`${flaky.id}.0`]);
      expect(dead[0].failedReason).to.match(/^HTTP 503, attempt \d+; its retry would come after WEBHOOK_MAX_AGE/);
      expect(expired()).to.equal(1);
    } finally {
      rx.answer = () => 200;
    }
  });

  it('off (the default): an old event is still sent', async () => {
    const d = await deliveries.make([rx.url]);
    const room = ids.roomInfo('old').name;
    const old = joined(room, 'old');
    old.createdAt = BigInt(Math.floor(Date.now() / 1000) - 3600);
    await d.queueNotify(old);
    await until(() => rx.roomSequence(room).length === 1, 'the old event');
    expect(expired()).to.equal(0);
  });
});
