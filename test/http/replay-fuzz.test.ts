import { expect } from 'chai';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import type { Coordinator } from '../../lib/coordinator';
import { readReplayRequest } from '../../lib/http/webhooks-routes';
import type { RedisClient } from '../../lib/redis/connection';
import { InvalidRequestError } from '../../lib/registry/validate';
import { WEBHOOK } from '../../lib/telemetry/events';
import { joined } from '../support/deliveries';
import { until, usePrivateRedis } from '../support/redis';
import { operatorToken, webhookOpsNode } from '../support/webhook-ops-node';
import { TestReceiver } from '../support/receiver';

const URLS = ['https://hooks.example.com/livekit', 'http://127.0.0.1:9/hook'];
const EVENTS: string[] = Object.values(WEBHOOK);

/** An instant as a buggy or hostile operator's script might give it: valid, out of range, or not one. */
const instant = fc.oneof(
  fc.integer({ min: 0, max: 2_000_000_000_000 }),
  fc.double(),
  fc.constantFrom(0, -1, 8.64e15, 8.64e15 + 1, 1e16, 1e300, Number.MAX_SAFE_INTEGER),
  fc.date({ min: new Date(0), max: new Date(8.64e15) }).map((d) => d.toISOString()),
  fc.stringMatching(/^\d{1,20}$/),
  fc.constantFrom('2024-05-01T12:00:00Z', '2024-02-30', '0001-01-01', '+275760-09-13T00:00:00.000Z', '275760-09-13', ' 1714564800000 ', '', 'yesterday', '1e16'),
  fc.jsonValue(),
);
/** A replay body: mostly the right shape, with any field wrong, missing or extra; or anything at all. */
const body = fc.oneof(
  { weight: 4, arbitrary: fc.record({
    url: fc.oneof(fc.constantFrom(...URLS), fc.string(), fc.jsonValue()),
    since: instant,
    until: instant,
    event: fc.oneof(fc.constantFrom(...EVENTS), fc.constantFrom('room_exploded', ''), fc.jsonValue()),
    extra: fc.jsonValue(),
  }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.jsonValue() },
);

describe('POST /v1/webhooks/replay: property-based (fast-check)', function () {
  this.timeout(300_000);

  it('reads any body as a valid request or an InvalidRequestError: a request it reads has a window a Date holds, a configured URL and a known event', () => {
    const now = Date.now();
    fc.assert(fc.property(body, (b) => {
      let request;
      try {
        request = readReplayRequest(b, URLS, now);
      } catch (e) {
        expect(e).to.be.instanceOf(InvalidRequestError);
        return;
      }
      expect(URLS).to.include(request.url);
      expect(request.sinceMs).to.be.at.most(request.untilMs);
      // logged with the replay: a window a Date cannot hold would fail the request after its work
      expect(() => [new Date(request.sinceMs).toISOString(), new Date(request.untilMs).toISOString()]).not.to.throw();
      if (request.event !== undefined) expect(EVENTS).to.include(request.event);
    }), { numRuns: 5000 });
  });

  describe('against a node with dead letters', () => {
    const redis = usePrivateRedis({ debugCommands: true });
    const rx = new TestReceiver();
    let node: Coordinator;
    let app: FastifyInstance;
    let admin: RedisClient;
    let token = '';

    before(async () => {
      await rx.start();
      rx.answer = () => 400;
      admin = redis.client();
      // one node delivers (and gives up) 30 events, then stops
      const { coordinator: maker, app: makerApp } = await webhookOpsNode(redis.target, rx.url, 'maker', 1);
      await maker.webhooks!.start({ concurrency: 10 });
      for (let i = 0; i < 30; i++) await maker.notifier.queueNotify(joined(`fz-${i % 3}`, `p${i}`));
      await until(async () => (await maker.webhooks!.operations.report())[0].deadLetters === 30, '30 dead letters', 30_000);
      await until(async () => (await maker.webhooks!.operations.report())[0].queued === 0, 'the lanes to drain');
      await makerApp.close();
      await maker.close();
      // another answers the API without delivering: Redis changes only through its requests
      ({ coordinator: node, app } = await webhookOpsNode(redis.target, rx.url, 'fuzzed', 1));
      token = await operatorToken();
    });
    redis.cleanups.push(async () => {
      await app?.close();
      await node?.close();
      await rx.stop();
    });

    it('a window past what a Date holds is refused before anything is re-queued', async () => {
      const before = await redis.digest(admin);
      const res = await app.inject({ method: 'POST', url: '/v1/webhooks/replay', headers: { Authorization: `Bearer ${token}` }, payload: { url: rx.url, since: 0, until: 1e16 } });
      expect(res.statusCode, res.body).to.equal(400);
      expect((res.json() as { error: { message: string } }).error.message).to.match(/^until: /);
      expect(await redis.digest(admin)).to.equal(before);
    });

    it('answers 200 or 400, never 5xx; a 400 changes nothing', async () => {
      const statuses = new Map<number, number>();
      let replayed = 0;
      // the receiver's URL among the configured ones, so valid bodies reach the dead letters
      const urls = fc.constantFrom(rx.url);
      const bodies = fc.oneof(
        { weight: 3, arbitrary: body },
        { weight: 1, arbitrary: fc.record({ url: urls, since: instant, until: instant, event: fc.constantFrom(...EVENTS) }, { requiredKeys: ['url', 'since'] }) },
      );
      await fc.assert(fc.asyncProperty(bodies, async (b) => {
        const before = await redis.digest(admin);
        const res = await app.inject({ method: 'POST', url: '/v1/webhooks/replay', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, payload: JSON.stringify(b) });
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        expect(res.statusCode, `${res.statusCode} ${res.body}`).to.be.oneOf([200, 400]);
        if (res.statusCode === 400) {
          expect((res.json() as { error: { code: string } }).error.code).to.be.oneOf(['invalid_field', 'malformed_request']);
          expect(await redis.digest(admin), 'Redis after a 400').to.equal(before);
          return;
        }
        const n = (res.json() as { replayed: number }).replayed;
        expect(Number.isInteger(n) && n >= 0, res.body).to.equal(true);
        replayed += n;
      // six bodies that must be 200 run first: the random ones alone held 2 to 21 valid bodies
      // in 300 (sampled), so a floor on their count failed now and then
      }), { numRuns: Number(process.env.FUZZ_RUNS ?? 300), examples: Array.from({ length: 6 }, (_, i): [{ url: string; since: number }] => [{ url: rx.url, since: i }]) });
      expect(statuses.get(400) ?? 0, JSON.stringify([...statuses])).to.be.above(50);
      expect(statuses.get(200) ?? 0, JSON.stringify([...statuses])).to.be.above(5);
      // a replay of a window holding them re-queued the dead letters, each once
      expect(replayed).to.be.at.most(30);
    });
  });
});
