import { Room, WebhookEvent } from '@livekit/protocol';
import { expect } from 'chai';
import pino from 'pino';
import { KeySpace } from '../../lib/redis/keys';
import { WebhookDelivery } from '../../lib/webhooks/delivery';
import { WEBHOOK_DEFAULTS, type WebhookOptions } from '../../lib/webhooks/options';
import { signWebhook } from '../../lib/webhooks/signing';
import { joined } from '../support/deliveries';
import { ids } from '../support/fixture';
import { until, usePrivateRedis } from '../support/redis';
import { API_KEY, API_SECRET, TestReceiver } from './receiver';

/** Webhook delivery against a real HTTP receiver that verifies with livekit-server-sdk. */
describe('webhook delivery (BullMQ, real receiver)', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  const keys = new KeySpace('tc', 4);
  const deliveries: WebhookDelivery[] = [];
  redis.cleanups.push(async () => { for (const d of deliveries) await d.close(); });

  // fast backoff for tests; the defaults are checked in the options tests
  const make = async (urls: string[], extra: Partial<WebhookOptions> = {}) => {
    const d = new WebhookDelivery(redis.client(), redis.target, keys, {
      ...WEBHOOK_DEFAULTS, urls, includeEvents: [], excludeEvents: [], apiKey: API_KEY, apiSecret: API_SECRET,
      timeoutMs: 2000, maxAttempts: 6, baseBackoffMs: 50, maxBackoffMs: 400, stuckRunMs: 1000, ...extra,
    }, pino({ level: 'silent' }));
    deliveries.push(d);
    await d.start({ concurrency: 50 });
    return d;
  };

  it('signs as LiveKit does: WebhookReceiver accepts it, and rejects a tampered body', async () => {
    const rx = new TestReceiver();
    await rx.start();
    try {
      const d = await make([rx.url]);
      await d.queueNotify(joined(ids.roomInfo('r').name, 'alice'));
      await until(() => rx.received.length === 1, 'the delivery');
      expect(rx.received[0].id).to.match(/^EV_/);
      expect(Number(rx.received[0].createdAt)).to.be.closeTo(Date.now() / 1000, 60);
      const body = joined('x', 'y').toJsonString();
      const res = await fetch(rx.url, { method: 'POST', body: body.replace('"y"', '"z"'), headers: { 'Content-Type': 'application/webhook+json', Authorization: await signWebhook(body, API_KEY, API_SECRET) } });
      expect(res.status).to.equal(401);
      expect(rx.rejected.at(-1)).to.match(/sha256 checksum/);
      const wrongKey = await fetch(rx.url, { method: 'POST', body, headers: { 'Content-Type': 'application/webhook+json', Authorization: await signWebhook(body, API_KEY, 'another-secret-another-secret-xx') } });
      expect(wrongKey.status).to.equal(401);
    } finally { await rx.stop(); }
  });

  it('keeps each room in order while some events fail their first attempts', async () => {
    const rx = new TestReceiver();
    await rx.start();
    try {
      // every third event fails its first two attempts
      let i = 0;
      const failing = new Set<string>();
      rx.answer = (ev, attempt) => (failing.has(ev.id) && attempt <= 2 ? 503 : 200);
      const d = await make([rx.url]);
      const rooms = [ids.roomInfo('a').name, ids.roomInfo('b').name, ids.roomInfo('c').name];
      const expected = new Map(rooms.map((r) => [r, [] as string[]]));
      for (let k = 0; k < 20; k++) {
        for (const r of rooms) {
          const ev = joined(r, `p${k}`);
          ev.id = `EV_${r}_${k}`;
          if (i++ % 3 === 0) failing.add(ev.id);
          expected.get(r)!.push(`p${k}`);
          await d.queueNotify(ev);
        }
      }
      await until(() => rooms.every((r) => rx.roomSequence(r).length === 20), 'every event of every room', 30_000);
      for (const r of rooms) expect(rx.roomSequence(r), r).to.deep.equal(expected.get(r));
      // every delivery instance of this file works the same queue, as nodes of a fleet do
      expect(deliveries.reduce((sum, x) => sum + x.metrics.retries, 0)).to.be.at.least(failing.size * 2);
    } finally { await rx.stop(); }
  });

  it('a receiver down for a while gets everything, in order, once it is back', async () => {
    const rx = new TestReceiver();
    await rx.start();
    const url = rx.url;
    const port = Number(new URL(url).port);
    await rx.stop();
    const d = await make([url]);
    const room = ids.roomInfo('down').name;
    for (let k = 0; k < 10; k++) await d.queueNotify(joined(room, `p${k}`));
    await until(() => deliveries.reduce((sum, x) => sum + x.metrics.failedAttempts, 0) >= 2, 'some failed attempts while it is down');
    await rx.start(port);
    try {
      await until(() => rx.roomSequence(room).length === 10, 'all events after the receiver returns', 30_000);
      expect(rx.roomSequence(room)).to.deep.equal(Array.from({ length: 10 }, (_, k) => `p${k}`));
    } finally { await rx.stop(); }
  });

  it('two URLs, one failing: the other gets every event', async () => {
    const good = new TestReceiver();
    const bad = new TestReceiver();
    bad.answer = () => 500;
    await good.start();
    await bad.start();
    try {
      const d = await make([bad.url, good.url]);
      const room = ids.roomInfo('two').name;
      for (let k = 0; k < 10; k++) await d.queueNotify(joined(room, `p${k}`));
      await until(() => good.roomSequence(room).length === 10, 'the healthy URL to get everything');
      expect(good.roomSequence(room)).to.deep.equal(Array.from({ length: 10 }, (_, k) => `p${k}`));
      expect(bad.received).to.have.length(0);
    } finally { await good.stop(); await bad.stop(); }
  });

  it('a 400 is a dead letter at once, the key goes on, and the next delivery carries numDropped', async () => {
    const rx = new TestReceiver();
    rx.answer = (ev) => (ev.participant?.identity === 'poison' ? 400 : 200);
    await rx.start();
    try {
      const d = await make([rx.url]);
      const room = ids.roomInfo('dl').name;
      const poison = joined(room, 'poison');
      await d.queueNotify(poison);
      await d.queueNotify(joined(room, 'after'));
      await until(() => rx.roomSequence(room).includes('after'), 'the event after the dead letter');
      expect(rx.attempts.get(poison.id)).to.equal(1);
      expect(rx.received.find((e) => e.participant?.identity === 'after')?.numDropped).to.equal(1);
      const failed = await d.queue.getFailed();
      const dead = failed.find((j) => j.id === `${poison.id}.0`);
      expect(dead?.failedReason).to.match(/HTTP 400/);
      // the count starts again after a success
      await d.queueNotify(joined(room, 'later'));
      await until(() => rx.roomSequence(room).includes('later'), 'a later event');
      expect(rx.received.find((e) => e.participant?.identity === 'later')?.numDropped).to.equal(0);
    } finally { await rx.stop(); }
  });

  it('a dead letter retried from the dashboard (job.retry) is delivered', async () => {
    const rx = new TestReceiver();
    let accept = false;
    rx.answer = () => (accept ? 200 : 400);
    await rx.start();
    try {
      const d = await make([rx.url]);
      const ev = joined(ids.roomInfo('retry').name, 'late');
      await d.queueNotify(ev);
      const dead = await until(async () => (await d.queue.getFailed()).find((j) => j.id === `${ev.id}.0`), 'the dead letter');
      accept = true;
      await dead.retry('failed');
      await until(() => rx.received.some((e) => e.id === ev.id), 'the retried dead letter');
    } finally { await rx.stop(); }
  });

  it('queueing an id again delivers it once', async () => {
    const rx = new TestReceiver();
    await rx.start();
    try {
      const d = await make([rx.url]);
      const room = ids.roomInfo('dup').name;
      const ev = joined(room, 'once');
      ev.id = ids.of('EV_', 'dup');
      await Promise.all([d.queueNotify(ev.clone()), d.queueNotify(ev.clone()), d.queueNotify(ev.clone())]);
      await d.queueNotify(joined(room, 'next'));
      await until(() => rx.roomSequence(room).length === 2, 'both events');
      expect(rx.received.filter((e) => e.id === ev.id)).to.have.length(1);
    } finally { await rx.stop(); }
  });

  it('filters: an include list wins, else the exclude list applies', async () => {
    const rx = new TestReceiver();
    await rx.start();
    try {
      const only = await make([rx.url], { includeEvents: ['room_started'], excludeEvents: ['room_started'] });
      const none = await make([rx.url], { excludeEvents: ['participant_joined'] });
      const room = ids.roomInfo('f').name;
      await only.queueNotify(joined(room, 'x'));
      await none.queueNotify(joined(room, 'y'));
      await only.queueNotify(new WebhookEvent({ event: 'room_started', room: new Room({ name: room }) }));
      await until(() => rx.received.some((e) => e.event === 'room_started' && e.room?.name === room), 'room_started');
      expect(rx.received.filter((e) => e.room?.name === room).map((e) => e.event)).to.deep.equal(['room_started']);
    } finally { await rx.stop(); }
  });
});
