import { expect } from 'chai';
import type { FastifyInstance } from 'fastify';
import { Cluster } from 'ioredis';
import type { Coordinator } from '../../lib/coordinator';
import { RUN, type RunJob, type RunProgress } from '../../lib/webhooks/delivery';
import type { UrlReport } from '../../lib/webhooks/operations';
import { webhookUrlTag } from '../../lib/webhook-url';
import { joined } from '../support/deliveries';
import { until, usePrivateRedis } from '../support/redis';
import { operatorToken, webhookOpsNode } from '../support/webhook-ops-node';
import { TestReceiver } from '../support/receiver';

/**
 * The operator's webhook API of one in-process node: GET /v1/webhooks (each URL's state)
 * and POST /v1/webhooks/replay (dead letters re-queued in order under their ids), and a
 * lane's backlog as its run's job shows it in the dashboard.
 */
describe('webhook operator API (in-process node)', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  const rx = new TestReceiver();
  let c: Coordinator;
  let app: FastifyInstance;
  let token = '';
  const auth = () => ({ Authorization: `Bearer ${token}` });
  const report = async (): Promise<UrlReport> => {
    const res = await app.inject({ method: 'GET', url: '/v1/webhooks', headers: auth() });
    expect(res.statusCode).to.equal(200);
    return (res.json() as { urls: UrlReport[] }).urls[0];
  };
  const replay = (body: unknown) => app.inject({ method: 'POST', url: '/v1/webhooks/replay', headers: auth(), payload: body as object });

  const node = (nodeId: string) => webhookOpsNode(redis.target, rx.url, nodeId, 2);

  before(async () => {
    await rx.start();
    ({ coordinator: c, app } = await node('ops-node'));
    await c.webhooks!.start({ concurrency: 20 });
    token = await operatorToken();
  });
  redis.cleanups.push(async () => {
    await app?.close();
    await c?.close();
    await rx.stop();
  });

  it('asks for a token', async () => {
    expect((await app.inject({ method: 'GET', url: '/v1/webhooks' })).statusCode).to.equal(401);
    expect((await app.inject({ method: 'POST', url: '/v1/webhooks/replay', payload: {} })).statusCode).to.equal(401);
  });

  it('reports a URL\'s dead letters and last error; replay re-queues a window\'s dead letters in order, under their ids', async () => {
    const t0 = Date.now();
    rx.answer = (ev) => (ev.room?.name === 'dl' ? 400 : 200);
    const events = ['a', 'b', 'c'].map((who) => joined('dl', who));
    for (const ev of events) await c.notifier.queueNotify(ev);
    await until(async () => (await report()).deadLetters === 3, 'three dead letters');
    const failing = await report();
    expect(failing.lastError?.status).to.equal(400);
    expect(failing.lastError?.message).to.equal('HTTP 400');
    expect(failing.tag).to.equal(webhookUrlTag(rx.url));
    expect(failing.failingSince).to.be.a('string');
    expect(failing.paused).to.equal(false);
    await until(async () => (await report()).queued === 0, 'the lane to drain');

    // the body is checked field by field
    const refused = async (body: unknown, field: string) => {
      const res = await replay(body);
      expect(res.statusCode, JSON.stringify(body)).to.equal(400);
      expect((res.json() as { error: { message: string } }).error.message).to.match(new RegExp(`^${field}: `));
    };
    await refused({ url: 'http://elsewhere.example/hook', since: t0 }, 'url');
    await refused({ url: 'wu:000000000000', since: t0 }, 'url');
    // the refusal lists the URLs as logs show them: by origin and tag, not by path
    const listed = ((await replay({ url: 'http://elsewhere.example/hook', since: t0 })).json() as { error: { message: string } }).error.message;
    expect(listed).to.include(`(wu:${webhookUrlTag(rx.url)})`).and.not.include('/webhook');
    await refused({ url: rx.url }, 'since');
    await refused({ url: rx.url, since: 'yesterday' }, 'since');
    await refused({ url: rx.url, since: t0, until: 'soon' }, 'until');
    await refused({ url: rx.url, since: t0, event: 'room_exploded' }, 'event');
    await refused({ url: rx.url, since: t0, extra: 1 }, 'extra');

    // a window before they failed holds none; another event name none either
    expect((await replay({ url: rx.url, since: t0 - 60_000, until: new Date(t0 - 1).toISOString() })).json()).to.deep.equal({ replayed: 0 });
    expect((await replay({ url: rx.url, since: t0, event: 'room_finished' })).json()).to.deep.equal({ replayed: 0 });

    rx.answer = () => 200;
    // named by its tag, as the logs name it
    const res = await replay({ url: `wu:${failing.tag}`, since: new Date(t0).toISOString(), event: 'participant_joined' });
    expect(res.statusCode).to.equal(200);
    expect(res.json()).to.deep.equal({ replayed: 3 });
    await until(() => rx.roomSequence('dl').length === 3, 'the replayed events');
    expect(rx.roomSequence('dl')).to.deep.equal(['a', 'b', 'c']);
    expect(rx.received.filter((e) => e.room?.name === 'dl').map((e) => e.id)).to.deep.equal(events.map((e) => e.id));
    // the successes are recorded just after the deliveries
    await until(async () => (await report()).failingSince === null, 'the successes recorded');
    const healthy = await report();
    expect(healthy).to.deep.include({ deadLetters: 0, failingSince: null, paused: false });
    expect(healthy.latencyMs.p50).to.be.a('number');
    expect(healthy.latencyMs.p99).to.be.at.least(healthy.latencyMs.p50!);
    // replayed once: nothing left to replay
    expect((await replay({ url: rx.url, since: t0 })).json()).to.deep.equal({ replayed: 0 });
  });

  it('replays hundreds of dead letters over several lanes: each lane in order under its ids, a few calls for the lot', async () => {
    const t0 = Date.now();
    const lanes = { 'bulk-a': 230, 'bulk-b': 20, 'bulk-c': 20 };
    rx.answer = (ev) => (ev.room?.name?.startsWith('bulk-') ? 400 : 200);
    const before = (await report()).deadLetters;
    const queued: Record<string, string[]> = { 'bulk-a': [], 'bulk-b': [], 'bulk-c': [] };
    // interleaved, as a fleet's rooms would be
    for (let i = 0; i < 230; i++) {
      for (const [room, count] of Object.entries(lanes)) {
        if (i >= count) continue;
        const ev = joined(room, `p${i}`);
        await c.notifier.queueNotify(ev);
        queued[room].push(ev.id);
      }
    }
    await until(async () => (await report()).deadLetters === before + 270, '270 dead letters', 30_000);
    await until(async () => (await report()).queued === 0, 'the lanes to drain');

    // ZREMs sent by clients (not those of scripts), on every master: two per dead letter before
    // (its seen id, its index entry), a few per lane now
    const admin = redis.client();
    const servers = admin instanceof Cluster ? await redis.masters(admin) : [admin];
    const monitors = await Promise.all(servers.map((n) => n.monitor()));
    let zrems = 0;
    for (const m of monitors) m.on('monitor', (_time: string, args: string[], source: string) => { if (args[0]?.toLowerCase() === 'zrem' && source !== 'lua') zrems++; });
    rx.answer = () => 200;
    try {
      const res = await replay({ url: rx.url, since: t0 });
      expect(res.json()).to.deep.equal({ replayed: 270 });
    } finally {
      await Promise.all(monitors.map((m) => m.disconnect()));
    }
    expect(zrems).to.be.greaterThan(0).and.at.most(10);
    await until(() => Object.entries(lanes).every(([room, n]) => rx.roomSequence(room).length === n), 'the replayed events', 30_000);
    for (const [room, n] of Object.entries(lanes)) {
      expect(rx.roomSequence(room), room).to.deep.equal(Array.from({ length: n }, (_, i) => `p${i}`));
      expect(rx.received.filter((e) => e.room?.name === room).map((e) => e.id), room).to.deep.equal(queued[room]);
    }
    expect((await report()).deadLetters).to.equal(before);
    expect((await replay({ url: rx.url, since: t0 })).json()).to.deep.equal({ replayed: 0 });
  });

  it('a replay asked twice (a retried request, two operators, two nodes) re-queues each dead letter once: the second is told one is under way', async () => {
    // a second node on the same Redis, answering the same API
    const { coordinator: other, app: otherApp } = await node('ops-node-2');
    try {
      let conflicts = 0;
      // the second request comes 0 to 27 ms after the first: before, during and after its re-queueing
      for (let round = 0; round < 10; round++) {
        const t0 = Date.now();
        const room = `twice-${round}`;
        rx.answer = (ev) => (ev.room?.name === room ? 400 : 200);
        const before = (await report()).deadLetters;
        const events = Array.from({ length: 40 }, (_, i) => joined(room, `p${i}`));
        for (const ev of events) await c.notifier.queueNotify(ev);
        await until(async () => (await report()).deadLetters === before + 40, '40 dead letters');
        rx.answer = () => 200;
        const body = { url: rx.url, since: t0 };
        const first = replay(body);
        await new Promise((r) => setTimeout(r, round * 3));
        const second = otherApp.inject({ method: 'POST', url: '/v1/webhooks/replay', headers: auth(), payload: body });
        const answers = await Promise.all([first, second]);
        const replayed = answers.filter((a) => a.statusCode === 200).reduce((n, a) => n + (a.json() as { replayed: number }).replayed, 0);
        expect(replayed, `round ${round}: ${answers.map((a) => a.statusCode)}`).to.equal(40);
        for (const a of answers.filter((x) => x.statusCode !== 200)) {
          conflicts++;
          expect(a.statusCode).to.equal(409);
          expect(a.headers['retry-after']).to.be.a('string');
          expect((a.json() as { error: { code: string } }).error.code).to.equal('replay_under_way');
        }
        await until(() => rx.roomSequence(room).length === 40, 'the replayed events');
        await until(async () => (await report()).queued === 0, 'the lane to drain');
        // each delivered once, in order (a second copy would come after the first 40)
        expect(rx.received.filter((e) => e.room?.name === room).map((e) => e.id), `round ${round}`).to.deep.equal(events.map((e) => e.id));
        expect((await report()).deadLetters).to.equal(before);
      }
      // at 0 ms apart the two meet: the second is refused, not run alongside
      expect(conflicts).to.be.greaterThan(0);
    } finally {
      await otherApp.close();
      await other.close();
    }
  });

  it('shows a lane\'s backlog: queued, in flight and oldest age per URL, and how many wait behind its run\'s job', async () => {
    rx.delayMs = 100;
    try {
      // 8 s of sending: longer than an inline run sends before it hands its lane to a job, which the dashboard shows
      for (let i = 0; i < 80; i++) await c.notifier.queueNotify(joined('backlog', `p${i}`));
      const busy = await until(async () => {
        const r = await report();
        return r.queued > 0 && r.inFlight === 1 ? r : null;
      }, 'the backlog in the report');
      expect(busy.oldestQueuedAgeMs).to.be.a('number');
      // the dashboard shows the run's progress: the events waiting in its lane
      const progress = await until(async () => {
        const runs = (await c.webhooks!.queue.getJobs(['active'])).filter((j) => j.name === RUN && (j.data as RunJob).key === 'room:backlog');
        const p = runs[0]?.progress as RunProgress | undefined;
        return p && typeof p === 'object' && p.waiting > 0 ? p : null;
      }, 'the run\'s progress to say how many wait', 15_000);
      expect(progress.waiting).to.be.at.most(80);
      await until(() => rx.roomSequence('backlog').length === 80, 'the backlog delivered', 30_000);
      expect(rx.roomSequence('backlog')).to.deep.equal(Array.from({ length: 80 }, (_, i) => `p${i}`));
      await until(async () => (await report()).queued === 0, 'the report to show it drained');
    } finally {
      rx.delayMs = 0;
    }
  });
});
