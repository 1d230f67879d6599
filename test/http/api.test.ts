import type { ChildProcess } from 'node:child_process';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { launchChromium } from '../support/browser';
import { ids } from '../support/fixture';
import { postBatch, sfuToken } from '../support/http';
import { startHttpNodes, stopNodeProcess } from '../support/processes';
import { API_KEY, API_SECRET, TestReceiver } from '../support/receiver';
import { until, usePrivateRedis } from '../support/redis';

/**
 * Black-box: three coordinator node processes (npm start's entry point) on one
 * redis-server, driven only over HTTP with tokens minted by livekit-server-sdk. Requests
 * go round-robin across the nodes, as behind a load balancer.
 */
describe('HTTP API, three node processes behind a "load balancer"', function () {
  this.timeout(90_000);
  const redis = usePrivateRedis();
  const rx = new TestReceiver();
  const nodes: ChildProcess[] = [];
  let urls: string[] = [];
  let token = '';
  redis.cleanups.push(async () => {
    await Promise.all(nodes.map((n) => stopNodeProcess(n)));
    await rx.stop();
  });

  before(async () => {
    await rx.start();
    const fleet = await startHttpNodes(3, { ...redis.env(), API_KEY, API_SECRET, WEBHOOK_URLS: rx.url, FLUSH_INTERVAL: '1s', NODE_LEASE: '2s' });
    nodes.push(...fleet.nodes);
    urls = fleet.urls;
    token = await sfuToken();
  });
  // the SFU node each test speaks for
  let node: string;
  beforeEach(() => { node = ids.node(); });

  let turn = 0;
  const post = (body: unknown, opts: { token?: string | null; contentType?: string; raw?: string } = {}) => {
    const headers: Record<string, string> = { 'Content-Type': opts.contentType ?? 'application/json' };
    const t = opts.token === undefined ? token : opts.token;
    if (t) headers.Authorization = `Bearer ${t}`;
    return fetch(`${urls[turn++ % urls.length]}/v1/telemetry`, { method: 'POST', headers, body: opts.raw ?? JSON.stringify(body) });
  };
  const getWorker = (room: string, p: string) => fetch(`${urls[turn++ % urls.length]}/v1/rooms/${room}/participants/${p}`, { headers: { Authorization: `Bearer ${token}` } });
  const registryKeys = async () => (await redis.keys('tc:{s*')).sort();
  const room = (sid: string) => ({ sid, name: `name-${sid}` });

  it('answers health and readiness on every node', async () => {
    for (const url of urls) {
      expect((await fetch(`${url}/healthz`)).status).to.equal(200);
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).to.equal(200);
      expect(await ready.json()).to.deep.equal({ redis: true, workers: true });
    }
  });

  it('applies a batch in order and answers 200 with one result per event; the worker is readable from any node', async () => {
    const [roomId, participantId] = [ids.room(), ids.participant()];
    const res = await post({ nodeId: node, events: [
      { method: 'roomStarted', room: room(roomId) },
      { method: 'participantJoined', room: room(roomId), participant: { sid: participantId, identity: 'alice' }, shouldSendEvent: true, guard: 'sig-1' },
      { method: 'participantActive', room: room(roomId), participant: { sid: participantId, identity: 'alice' }, isMigration: false, guard: 'media-1' },
    ] });
    expect(res.status).to.equal(200);
    expect(await res.json()).to.deep.equal({ results: [{ ok: true }, { ok: true }, { ok: true }] });
    for (let i = 0; i < urls.length; i++) {
      const w = await getWorker(roomId, participantId);
      expect(w.status).to.equal(200);
      const body = await w.json() as { generation: number };
      expect(body).to.deep.equal({
        roomId, roomName: `name-${roomId}`, participantId, identity: 'alice',
        guards: [{ guard: 'media-1', nodeId: node }, { guard: 'sig-1', nodeId: node }], refCount: 2, connected: true, closedAt: null, generation: body.generation,
      });
    }
    expect((await getWorker(roomId, 'PA_none')).status).to.equal(404);
  });

  const expired = () => sfuToken('x', -60);
  const bad: [string, () => Promise<Response>, number, RegExp][] = [
    ['malformed JSON', () => post(null, { raw: `{"nodeId": "${node}", "events": [` }), 400, /JSON/i],
    ['an unknown method', () => post({ nodeId: node, events: [{ method: 'participantDanced', room: room('RM_x') }] }), 400, /events\[0\]\.method: "participantDanced" is not a TelemetryService method/],
    ['a missing field', () => post({ nodeId: node, events: [{ method: 'roomStarted', room: room('RM_ok') }, { method: 'participantLeft', room: room('RM_x'), participant: { sid: 'PA_x' } }] }), 400, /events\[1\]\.shouldSendEvent: required by participantLeft/],
    ['a mistyped field', () => post({ nodeId: node, events: [{ method: 'participantJoined', room: room('RM_x'), participant: { sid: 42 }, shouldSendEvent: true }] }), 400, /events\[0\]\.participant:/],
    ['an unknown field', () => post({ nodeId: node, events: [{ method: 'roomStarted', room: room('RM_x'), colour: 'red' }] }), 400, /events\[0\]\.colour: not a field of roomStarted/],
    ['an id the registry refuses, after a good event', () => post({ nodeId: node, events: [{ method: 'roomStarted', room: room('RM_ok') }, { method: 'participantActive', room: room('RM_x'), participant: { sid: 'PA|1' }, isMigration: false, guard: 'g' }] }), 400, /events\[1\]\.participant\.sid: must not contain '\|'/],
    ['1,001 events', () => post({ nodeId: node, events: Array.from({ length: 1001 }, () => ({ method: 'roomStarted', room: room('RM_x') })) }), 400, /1 to 1000 events \(got 1001\)/],
    ['no nodeId', () => post({ events: [{ method: 'roomStarted', room: room('RM_x') }] }), 400, /nodeId: must be a non-empty string/],
    ['an oversized body', () => post({ nodeId: node, events: [{ method: 'roomStarted', room: { sid: 'RM_x', name: 'x'.repeat(1_100_000) } }] }), 413, /body over/],
    ['a wrong content type', () => post(null, { contentType: 'text/plain', raw: 'hello' }), 415, /Content-Type must be application\/json/],
    ['a missing token', () => post({ nodeId: node, events: [{ method: 'roomStarted', room: room('RM_x') }] }, { token: null }), 401, /missing Bearer token/],
    ['a bad token', () => post({ nodeId: node, events: [{ method: 'roomStarted', room: room('RM_x') }] }, { token: 'not.a.jwt' }), 401, /invalid token/],
    ['an expired token', async () => post({ nodeId: node, events: [{ method: 'roomStarted', room: room('RM_x') }] }, { token: await expired() }), 401, /invalid token.*exp/],
  ];
  for (const [name, call, status, message] of bad) {
    it(`${name}: ${status}, a message naming it, nothing applied`, async () => {
      const before = await registryKeys();
      const eventsBefore = await redis.client().xlen('tc:analytics:events');
      const res = await call();
      expect(res.status).to.equal(status);
      expect(((await res.json()) as { error: { message: string } }).error.message).to.match(message);
      expect(await registryKeys()).to.deep.equal(before);
      expect(await redis.client().xlen('tc:analytics:events')).to.equal(eventsBefore);
    });
  }

  it('an event id applied before is acknowledged and not applied again (an SFU retrying a batch)', async () => {
    const batch = { nodeId: node, events: [{ method: 'roomEnded', id: 'evt-retry-1', room: room('RM_idem') }] };
    const before = await redis.client().xlen('tc:analytics:events');
    expect((await post(batch)).status).to.equal(200);
    expect((await post(batch)).status).to.equal(200);
    expect(await redis.client().xlen('tc:analytics:events')).to.equal(before + 1);
  });

  it('the same batch raced three times at once over two nodes (an SFU retrying through a load balancer), 25 times: each webhook once, under one id', async () => {
    const rooms: string[] = [];
    for (let i = 0; i < 25; i++) {
      const r = room(`RM_race${i}`);
      rooms.push(r.name);
      const p = { sid: `PA_race${i}`, identity: `racer${i}` };
      const body = JSON.stringify({ nodeId: node, events: [
        { method: 'roomStarted', id: `race-${i}-1`, room: r },
        { method: 'participantJoined', id: `race-${i}-2`, room: r, participant: p, shouldSendEvent: true, guard: `sig-${i}` },
        { method: 'participantActive', id: `race-${i}-3`, room: r, participant: p, isMigration: false, guard: `media-${i}` },
        { method: 'participantLeft', id: `race-${i}-4`, room: r, participant: p, shouldSendEvent: true, guard: `sig-${i}` },
        { method: 'participantLeft', id: `race-${i}-5`, room: r, participant: p, shouldSendEvent: true, guard: `media-${i}` },
      ] });
      // twice to one node, once to another, as retries through a load balancer may land
      const answers = await Promise.all([postBatch(urls[i % 3], token, body), postBatch(urls[i % 3], token, body), postBatch(urls[(i + 1) % 3], token, body)]);
      expect(answers.map((a) => a.status), `round ${i}`).to.deep.equal([200, 200, 200]);
    }
    const expected = ['room_started', 'participant_joined', 'participant_left'];
    await until(() => rooms.every((name) => expected.every((ev) => rx.received.some((e) => e.room?.name === name && e.event === ev))), 'every webhook of the raced batches');
    // anything late would have come with the rest: the deliveries of these rooms are done
    for (const name of rooms) {
      const mine = rx.received.filter((e) => e.room?.name === name);
      const byEvent = new Map<string, Set<string>>();
      for (const e of mine) byEvent.set(e.event, (byEvent.get(e.event) ?? new Set()).add(e.id));
      expect([...byEvent.keys()].sort(), name).to.deep.equal([...expected].sort());
      for (const [ev, idSet] of byEvent) expect(idSet.size, `${name} ${ev}: webhook ids`).to.equal(1);
    }
  });

  it("the seed's resume across coordinator nodes: one open connected worker, then exactly one participant_left", async () => {
    const r = room('RM_resume');
    const p = { sid: 'PA_r', identity: 'resumer' };
    const nodeB = ids.node('b');
    expect((await post({ nodeId: node, events: [
      { method: 'participantJoined', room: r, participant: p, shouldSendEvent: true, guard: 'sig-a' },
      { method: 'participantActive', room: r, participant: p, isMigration: false, guard: 'media-a' },
    ] })).status).to.equal(200);
    // the resume lands on SFU node B, through the other coordinator
    expect((await post({ nodeId: nodeB, events: [{ method: 'participantJoined', room: r, participant: p, shouldSendEvent: false, guard: 'sig-b' }] })).status).to.equal(200);
    expect((await post({ nodeId: node, events: [
      { method: 'participantLeft', room: r, participant: p, shouldSendEvent: false, guard: 'sig-a' },
      { method: 'participantLeft', room: r, participant: p, shouldSendEvent: false, guard: 'media-a' },
    ] })).status).to.equal(200);
    const w = (await (await getWorker('RM_resume', 'PA_r')).json()) as Record<string, unknown>;
    expect(w).to.deep.include({ connected: true, closedAt: null, refCount: 1 });
    expect((await post({ nodeId: nodeB, events: [{ method: 'participantLeft', room: r, participant: p, shouldSendEvent: true, guard: 'sig-b' }] })).status).to.equal(200);
    await until(() => rx.received.some((e) => e.room?.name === r.name && e.event === 'participant_left'), 'participant_left');
    const mine = rx.received.filter((e) => e.room?.name === r.name).map((e) => e.event);
    expect(mine).to.deep.equal(['participant_joined', 'participant_left']);
  });

  it('DELETE /v1/nodes/:nodeId releases the departing SFU node\'s connections now', async () => {
    const r = room('RM_depart');
    expect((await post({ nodeId: node, events: [{ method: 'participantActive', room: r, participant: { sid: 'PA_d', identity: 'd' }, isMigration: false, guard: 'g' }] })).status).to.equal(200);
    const res = await fetch(`${urls[0]}/v1/nodes/${node}`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).to.equal(204);
    const w = (await (await getWorker('RM_depart', 'PA_d')).json()) as Record<string, unknown>;
    expect(w.closedAt).to.be.a('string');
    await until(() => rx.received.some((e) => e.room?.name === r.name && e.event === 'participant_left'), 'participant_left after the departure');
    expect((await fetch(`${urls[1]}/v1/nodes/${node}/heartbeat`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } })).status).to.equal(204);
  });

  it('serves Prometheus metrics and the BullMQ dashboard (basic auth) listing its queues', async () => {
    const m = await (await fetch(`${urls[0]}/metrics`)).text();
    expect(m).to.match(/tc_events_total\{method="participantJoined"\} \d+/);
    expect(m).to.match(/tc_queue_jobs\{queue="telemetry",state="waiting"\}/);
    expect(m).to.include('process_cpu_user_seconds_total');
    // the background work runs on the node's jobs thread, which reports its own metrics
    await until(async () => /^tc_flush_duration_seconds_count [1-9]/m.test(await (await fetch(`${urls[0]}/metrics`)).text()), 'flush metrics from the jobs thread');
    expect(await (await fetch(`${urls[0]}/metrics`)).text()).to.match(/^tc_webhook_latency_seconds_count \d+$/m);
    // the webhooks the tests above raised: the runs the API threads started were sent by their jobs threads in-process
    const inline = await Promise.all(urls.map(async (url) => Number(/^tc_webhook_inline_runs_total (\d+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? -1)));
    expect(inline.every((n) => n >= 0), 'tc_webhook_inline_runs_total on every node').to.equal(true);
    expect(inline.reduce((sum, n) => sum + n, 0), 'inline runs in the fleet').to.be.greaterThan(0);
    expect((await fetch(`${urls[0]}/admin/queues`)).status).to.equal(401);
    const auth = { Authorization: `Basic ${Buffer.from(`${API_KEY}:${API_SECRET}`).toString('base64')}` };
    const page = await fetch(`${urls[0]}/admin/queues`, { headers: auth });
    expect(page.status).to.equal(200);
    expect(await page.text()).to.match(/<html/i);
    const api = (await (await fetch(`${urls[0]}/admin/queues/api/queues`, { headers: auth })).json()) as { queues: { name: string }[] };
    // every queue shard of both kinds (QUEUE_SHARDS auto: 1 on one redis-server, 3 on the 3-master cluster)
    const shards = Number(await redis.client().get('tc:{fleet}:queue-shards'));
    const names = ['telemetry', 'webhooks'].flatMap((kind) => Array.from({ length: shards }, (_, k) => (k === 0 ? kind : `${kind}-${k}`)));
    expect(shards).to.equal(redis.topology === 'cluster' ? 3 : 1);
    expect(api.queues.map((q) => q.name).sort()).to.deep.equal(names.sort());
  });

  it('the dashboard loads its queues in a real headless Chromium (screenshot in test/artifacts/)', async () => {
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({ httpCredentials: { username: API_KEY, password: API_SECRET }, viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      const res = await page.goto(`${urls[2]}/admin/queues`);
      expect(res?.status()).to.equal(200);
      // the page is a client-side app: the queue names appear once it has called the API
      for (const queue of ['telemetry', 'webhooks']) await page.getByText(queue, { exact: true }).first().waitFor({ timeout: 30_000 });
      // open the telemetry queue: its job states load from the API, with the periodic jobs in them
      await page.getByText('telemetry', { exact: true }).first().click();
      await page.waitForURL(/\/admin\/queues\/queue\/telemetry/, { timeout: 30_000 });
      await page.getByText('Completed', { exact: false }).first().waitFor({ timeout: 30_000 });
      await page.getByText('Loading', { exact: false }).first().waitFor({ state: 'hidden', timeout: 30_000 });
      const shot = path.join(__dirname, '..', 'artifacts', 'dashboard.png');
      await mkdir(path.dirname(shot), { recursive: true });
      await page.screenshot({ path: shot });
      expect((await stat(shot)).size).to.be.greaterThan(10_000);
    } finally {
      await browser.close();
    }
  });

  it('SIGTERM drains: requests in flight are answered 200, then the node exits 0', async () => {
    const batch = (i: number) => ({ nodeId: node, events: Array.from({ length: 200 }, (_, k) => ({ method: 'trackMuted', room: room(`RM_drain${i}`), participantId: `PA_${k}`, track: { sid: `TR_${k}` } })) });
    const inFlight = Array.from({ length: 10 }, (_, i) => postBatch(urls[0], token, batch(i)));
    await new Promise((r) => setImmediate(r));
    const exited = new Promise<number | null>((r) => nodes[0].once('exit', (code) => r(code)));
    nodes[0].kill('SIGTERM');
    const answers = await Promise.allSettled(inFlight);
    const statuses = answers.map((a) => (a.status === 'fulfilled' ? a.value.status : 'refused'));
    // each request was either taken and answered 200, or refused at the door (503 while
    // closing, or no connection) before anything was applied
    expect(statuses.every((st) => st === 200 || st === 503 || st === 'refused'), String(statuses)).to.equal(true);
    expect(statuses.filter((st) => st === 200).length).to.be.greaterThan(0);
    // answers sent while draining close their keep-alive connection, so the close does not
    // wait for idle connections to time out
    const closing = answers.filter((a) => a.status === 'fulfilled' && a.value.headers.get('connection') === 'close');
    expect(closing.length).to.be.greaterThan(0);
    expect(await exited).to.equal(0);
    urls = urls.slice(1);
  });

  it('with one node gone, the other two still run the periodic work: stats are flushed', async () => {
    const [roomId, participantId] = [ids.room(), ids.participant()];
    const stat = { roomId, participantId, trackId: 'TR_left', streams: [{ primaryPackets: 10, primaryBytes: '12000' }] };
    const before = await redis.client().xlen('tc:analytics:stats');
    // a stat is flushed for a participant with a worker: the batch opens one first
    const res = await post({ nodeId: node, events: [
      { method: 'participantActive', room: room(roomId), participant: { sid: participantId, identity: 'left' }, isMigration: false, guard: 'g' },
      { method: 'trackStats', roomId, roomName: `name-${roomId}`, key: { streamType: 'UPSTREAM', participantId, trackId: 'TR_left' }, stat },
    ] });
    expect(res.status).to.equal(200);
    await until(async () => (await redis.client().xlen('tc:analytics:stats')) > before, 'the stat to be flushed by a remaining node', 30_000);
  });
});
