import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { AnalyticsStat, AnalyticsStream, ParticipantInfo, Room, TrackInfo, TrackType } from '@livekit/protocol';
import { expect } from 'chai';
import { SignJWT } from 'jose';
import { TELEMETRY_GRANT } from '../../lib/http/auth';
import { TelemetryClient } from '../../lib/client/telemetry-client';
import { freePort, PrivateRedis } from '../../lib/redis/server';
import { Haproxy, haproxyConfig } from '../../scripts/support/haproxy';
import { balancerFigures, rollingRestart, upstreams } from '../../scripts/support/lb';
import { WebhookLedger } from '../../scripts/support/webhook-ledger';
import { startHttpNode, stopNodeProcess } from '../support/processes';
import { until } from '../support/redis';
import { API_KEY, API_SECRET, TestReceiver } from '../support/receiver';

describe('docs/load-balancer.md', () => {
  it('shows the HAProxy config the launcher writes, for its example addresses', () => {
    const doc = readFileSync(path.join(__dirname, '..', '..', 'docs', 'load-balancer.md'), 'utf8');
    const block = /```haproxy\n([\s\S]*?)```/.exec(doc);
    expect(block, 'a ```haproxy block').to.not.equal(null);
    expect(block![1]).to.equal(haproxyConfig({
      bind: ':7890', statsBind: '127.0.0.1:8404', adminSocket: '/run/haproxy/admin.sock',
      servers: [1, 2, 3].map((i) => ({ name: `node${i}`, host: `10.0.0.1${i}`, port: 7890 })),
    }));
  });
});

describe('the HAProxy launcher (scripts/support/haproxy.ts)', function () {
  this.timeout(30_000);

  it('follows /readyz, reloads with new servers, takes a server out by hand, and a kill leaves nothing', async () => {
    // stand-ins for nodes: /readyz answers what `ready` says
    const ready = [true, true];
    const stands = ready.map((_, i) => http.createServer((req, res) => {
      res.writeHead(req.url === '/readyz' && ready[i] ? 200 : 503).end(String(i));
    }));
    const ports = await Promise.all(stands.map((srv) => new Promise<number>((r) => srv.listen(0, '127.0.0.1', () => r((srv.address() as AddressInfo).port)))));
    const lb = await Haproxy.start({ servers: upstreams(ports.slice(0, 1)) });
    try {
      await lb.waitForServer('node1', 'UP');
      expect(await (await fetch(`${lb.url}/anything`)).text()).to.equal('0');
      ready[0] = false;
      await lb.waitForServer('node1', 'DOWN');
      expect((await fetch(`${lb.url}/anything`)).status, 'no node left: HAProxy answers itself').to.equal(503);

      const firstPid = /^Pid: (\d+)/m.exec(await lb.command('show info'))![1];
      await lb.reload(upstreams(ports));
      expect(/^Pid: (\d+)/m.exec(await lb.command('show info'))![1]).to.not.equal(firstPid);
      await lb.waitForServer('node2', 'UP');
      expect(await (await fetch(`${lb.url}/anything`)).text()).to.equal('1');

      await lb.setServerState('node2', 'drain');
      expect(await lb.serverStatus('node2')).to.equal('DRAIN');
      await lb.setServerState('node2', 'ready');
      await lb.waitForServer('node2', 'UP');
    } finally {
      await lb.kill();
      for (const srv of stands) srv.close();
    }
    expect(existsSync(lb.dir), 'temp dir removed').to.equal(false);
    // the worker follows its master a moment later
    await until(() => fetch(`${lb.url}/`).then(() => false, () => true), 'nothing listening on its port after kill()');
  });
});

/** The sum of a counter's samples in a node's /metrics text. */
function counter(text: string, name: string): number {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/**
 * "Any node takes any event, behind a load balancer": three `npm start` node processes on
 * one redis-server behind a real HAProxy, SFU clients given only HAProxy's URL, webhooks
 * checked by livekit-server-sdk's WebhookReceiver. Every node is restarted in turn under
 * load; no call fails for good and every webhook arrives once, in order.
 */
describe('HAProxy in front of three coordinator nodes', function () {
  this.timeout(240_000);

  let redis: PrivateRedis;
  const rx = new TestReceiver();
  let lb: Haproxy;
  let ports: number[] = [];
  const nodes: ChildProcess[] = [];
  const nodeLogs: string[] = [];
  const lbLogs: string[] = [];
  const servers = () => upstreams(ports);

  const startNode = (port: number) => startHttpNode({
    PORT: String(port), REDIS_URL: redis.url, API_KEY, API_SECRET, WEBHOOK_URLS: rx.url,
    FLUSH_INTERVAL: '2s', NODE_LEASE: '10s', WORKER_CLEANUP_WAIT: '10s', LOG_LEVEL: 'warn',
  }, { output: nodeLogs });

  /** SIGTERM, wait for the exit (its code must be 0: a clean drain), start again on the same port. */
  async function restart(i: number): Promise<{ drainMs: number }> {
    const t0 = Date.now();
    await stopNodeProcess(nodes[i]);
    const drainMs = Date.now() - t0;
    expect(nodes[i].exitCode, `node${i + 1} exit code after SIGTERM`).to.equal(0);
    nodes[i] = await startNode(ports[i]);
    return { drainMs };
  }

  before(async () => {
    redis = await PrivateRedis.start();
    await rx.start();
    ports = [await freePort(), await freePort(), await freePort()];
    nodes.push(...(await Promise.all(ports.map(startNode))));
    lb = await Haproxy.start({ servers: servers(), output: lbLogs });
    for (const s of servers()) await lb.waitForServer(s.name, 'UP');
  });

  after(async () => {
    await lb?.stop();
    await Promise.all(nodes.map((n) => stopNodeProcess(n)));
    await rx.stop();
    await redis?.stop();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      console.log(`haproxy log:\n${lbLogs.join('').slice(-4000)}\nnodes' log:\n${nodeLogs.join('').slice(-4000)}`);
    }
  });

  it('a draining node answers no /readyz with 2xx, and HAProxy takes it out while it still finishes a request', async () => {
    const [port] = ports;
    const token = await new SignJWT({ ...TELEMETRY_GRANT }).setProtectedHeader({ alg: 'HS256' }).setIssuer(API_KEY)
      .setExpirationTime(Math.floor(Date.now() / 1000) + 600).sign(new TextEncoder().encode(API_SECRET));
    const stat = new AnalyticsStat({ roomId: 'RM_held', participantId: 'PA_held', trackId: 'TR_held', streams: [new AnalyticsStream({ ssrc: 1, primaryBytes: 100n, primaryPackets: 1 })] });
    const body = JSON.stringify({ nodeId: 'sfu-held', events: [{
      method: 'trackStats', id: `held:${Date.now()}`, roomId: 'RM_held', key: { streamType: 'UPSTREAM', participantId: 'PA_held', trackId: 'TR_held' }, stat: stat.toJson(),
    }] });
    // a request in flight the drain must wait for: headers sent, the body not yet
    const held = net.connect(port, '127.0.0.1');
    await new Promise((r, j) => { held.once('connect', r); held.once('error', j); });
    let answer = '';
    held.on('data', (d) => { answer += d.toString('utf8'); });
    held.write(`POST /v1/telemetry HTTP/1.1\r\nHost: node\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`);

    const node = nodes[0];
    const readyz = () => fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 'refused' as const);
    expect(await readyz()).to.equal(200);
    node.kill('SIGTERM');
    await until(async () => (await readyz()) !== 200, 'the node to start draining');
    // while it drains, /readyz is never 2xx (new connections are refused), and HAProxy's checks see it
    const probes: (number | string)[] = [];
    await until(async () => {
      probes.push(await readyz());
      return (await lb.serverStatus('node1')) === 'DOWN';
    }, 'HAProxy to mark node1 DOWN', 10_000);
    expect(probes.filter((s) => typeof s === 'number' && s >= 200 && s < 300), '/readyz answers while draining').to.deep.equal([]);
    expect(node.exitCode, 'the node is still draining when HAProxy took it out').to.equal(null);

    held.write(body.slice(10)); // not end(): a half-closed request is one its client gave up
    await until(() => answer.includes('\r\n\r\n'), 'the held request\'s answer');
    expect(answer).to.match(/^HTTP\/1\.1 200 /);
    expect(answer.toLowerCase()).to.include('connection: close');
    held.destroy();
    await until(() => node.exitCode !== null, 'the node to exit after its drain');
    expect(node.exitCode).to.equal(0);

    nodes[0] = await startNode(port);
    await lb.waitForServer('node1', 'UP');
  });

  it('rolling restart of every node under steady load: no call fails for good, every webhook once and in order, all nodes take requests', async () => {
    const ledger = new WebhookLedger();
    const calls = { made: 0, ok: 0, failed: [] as string[] };
    const requests = { total: 0, notOk: new Map<string, number>() };
    const sfus = [0, 1, 2].map((i) => new TelemetryClient({
      urls: [lb.url], nodeId: `sfu-${i}`, apiKey: API_KEY, apiSecret: API_SECRET, heartbeatIntervalMs: 2000, lingerMs: 2,
      onRequest: (r) => {
        if (r.events === 0) return;
        requests.total++;
        if (r.status !== 200) requests.notOk.set(String(r.status), (requests.notOk.get(String(r.status)) ?? 0) + 1);
      },
    }));
    const call = async (p: Promise<void>, what: string) => {
      calls.made++;
      try { await p; calls.ok++; } catch (e) { calls.failed.push(`${what}: ${(e as Error).message}`); throw e; }
    };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

    /** One room on one SFU: started, three participants join, publish, send stats, leave; ended. */
    let rooms = 0;
    async function session(sfu: TelemetryClient): Promise<void> {
      const n = rooms++;
      const room = new Room({ sid: `RM_lb${n}`, name: `lb-room-${n}` });
      await call(sfu.roomStarted({ room }), `roomStarted ${room.name}`);
      ledger.expect(`room_started|${room.name}`);
      await Promise.all([0, 1, 2].map(async (p) => {
        const info = new ParticipantInfo({ sid: `PA_lb${n}_${p}`, identity: `lb${n}-u${p}` });
        const subj = (event: string) => `${event}|${room.name}|${info.identity}`;
        await call(sfu.participantJoined({ room, participant: info, shouldSendEvent: true, guard: `sig-${info.sid}` }), `joined ${info.identity}`);
        await call(sfu.participantActive({ room, participant: info, isMigration: false, guard: `media-${info.sid}` }), `active ${info.identity}`);
        ledger.expect(subj('participant_joined'));
        ledger.mustPrecede(`room_started|${room.name}`, subj('participant_joined'));
        const track = new TrackInfo({ sid: `TR_lb${n}_${p}`, type: TrackType.AUDIO, name: 'mic' });
        await call(sfu.trackPublished({ room, participantId: info.sid, identity: info.identity, track, shouldSendEvent: true }), `published ${track.sid}`);
        ledger.expect(`track_published|${room.name}|${track.sid}`);
        ledger.mustPrecede(subj('participant_joined'), `track_published|${room.name}|${track.sid}`);
        for (let k = 0; k < 5; k++) {
          const stat = new AnalyticsStat({ roomId: room.sid, participantId: info.sid, trackId: track.sid, streams: [new AnalyticsStream({ ssrc: 7, primaryBytes: 4000n, primaryPackets: 4 })] });
          await call(sfu.trackStats({ roomId: room.sid, roomName: room.name, key: { streamType: 'UPSTREAM', participantId: info.sid, trackId: track.sid }, stat }), `stats ${track.sid}`);
          await sleep(100);
        }
        for (const guard of [`sig-${info.sid}`, `media-${info.sid}`]) {
          await call(sfu.participantLeft({ room, participant: info, shouldSendEvent: true, guard }), `left ${info.identity} ${guard}`);
        }
        ledger.expect(subj('participant_left'));
        ledger.mustPrecede(subj('participant_joined'), subj('participant_left'));
        ledger.mustPrecede(`track_published|${room.name}|${track.sid}`, subj('participant_left'));
        ledger.mustPrecede(subj('participant_left'), `room_finished|${room.name}`);
      }));
      await call(sfu.roomEnded({ room }), `roomEnded ${room.name}`);
      ledger.expect(`room_finished|${room.name}`);
    }

    // steady load: two rooms at a time on each SFU, one after another, until the restart is done
    let loading = true;
    const load = Promise.all(sfus.flatMap((sfu) => [0, 1].map(async () => {
      while (loading) await session(sfu).catch(() => {}); // a failure is recorded in calls.failed
    })));

    const before = await balancerFigures(lb);
    const grewOnEveryNode = async () => {
      const now = await balancerFigures(lb);
      return servers().every((s) => (now.answeredBy.get(s.name) ?? 0) > (before.answeredBy.get(s.name) ?? 0));
    };
    await until(grewOnEveryNode, 'requests answered by every node before the first goes', 30_000);
    const steps = await rollingRestart(lb, servers(), restart);
    // each restarted node takes its share again before the load stops
    const metrics = async (port: number) => counter(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), 'tc_events_total');
    await until(async () => (await Promise.all(ports.map(metrics))).every((v) => v > 0), 'events applied by every restarted node', 30_000);
    loading = false;
    await load;
    for (const sfu of sfus) await sfu.close();

    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && ledger.check(rx.received).lost.length > 0) await sleep(200);
    const report = ledger.check(rx.received);
    const figures = await balancerFigures(lb);
    const perNode = await Promise.all(ports.map(metrics));
    console.log(`      rooms ${rooms}, calls ${calls.made} (failed for good ${calls.failed.length}), batches ${requests.total} (answered other than 200: ${JSON.stringify(Object.fromEntries(requests.notOk))}), `
      + `HAProxy answers by node ${JSON.stringify(Object.fromEntries(figures.answeredBy))}, retries ${figures.retries}, redispatches ${figures.redispatches}, 5xx of its own ${figures.failedAtBalancer}; `
      + `events applied by each node since its restart ${perNode.join(' / ')}; restarts ${steps.map((s) => `${s.name} drain ${s.drainMs} ms, out ${s.outMs} ms`).join('; ')}; `
      + `webhooks expected ${report.expected}, received ${report.received}, redelivered ${report.redelivered}`);

    expect(calls.failed, 'calls that failed for good').to.deep.equal([]);
    expect(calls.ok).to.equal(calls.made);
    expect(report.lost, 'lost webhooks').to.deep.equal([]);
    expect(report.duplicated, 'webhooks raised twice').to.deep.equal([]);
    expect(report.duplicates).to.equal(0);
    expect(report.outOfOrder, 'webhooks out of order').to.deep.equal([]);
    expect(report.unexpected).to.deep.equal([]);
    expect(rx.rejected, 'deliveries failing verification').to.deep.equal([]);
    expect(steps.map((s) => s.name)).to.deep.equal(['node1', 'node2', 'node3']);
    // HAProxy spread the requests: every node answered some, and every restarted node applied events
    for (const [name, answered] of figures.answeredBy) expect(answered, `${name} answered`).to.be.greaterThan(before.answeredBy.get(name) ?? 0);
    for (const [i, v] of perNode.entries()) expect(v, `events applied by node${i + 1} since its restart`).to.be.greaterThan(0);
  });
});
