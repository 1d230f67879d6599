import type { ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AnalyticsEventType, AnalyticsStat, AnalyticsStream, ParticipantInfo, Room, TrackInfo } from '@livekit/protocol';
import { expect } from 'chai';
import { TelemetryClient, TelemetryRequestError, type RequestReport } from '../../lib/client/telemetry-client';
import { freePort } from '../../lib/redis/server';
import type { TelemetryService } from '../../lib/telemetry/types';
import { ids } from '../support/fixture';
import { startHttpNodes, stopNodeProcess } from '../support/processes';
import { API_KEY, API_SECRET, TestReceiver } from '../support/receiver';
import { until, usePrivateRedis } from '../support/redis';
import { analyticsEvents } from '../support/streams';
import { useTelemetry } from '../support/telemetry';

/**
 * TelemetryClient: LiveKit's TelemetryService over HTTP. The same SFU code runs against
 * the in-process service and against real coordinator node processes, with the same
 * effects; calls are batched, applied in order, and retried without being applied twice.
 */
describe('TelemetryClient against two coordinator node processes', function () {
  this.timeout(90_000);
  const redis = usePrivateRedis();
  const local = useTelemetry();
  const rx = new TestReceiver();
  const nodes: ChildProcess[] = [];
  const clients: TelemetryClient[] = [];
  let urls: string[] = [];
  redis.cleanups.push(async () => {
    for (const c of clients) c.destroy();
    await Promise.all(nodes.map((n) => stopNodeProcess(n)));
    await rx.stop();
  });

  before(async () => {
    await rx.start();
    const fleet = await startHttpNodes(2, { ...redis.env(), API_KEY, API_SECRET, WEBHOOK_URLS: rx.url, FLUSH_INTERVAL: '1s', NODE_LEASE: '2s' });
    nodes.push(...fleet.nodes);
    urls = fleet.urls;
  });

  const client = (nodeId: string, extra: Partial<ConstructorParameters<typeof TelemetryClient>[0]> = {}) => {
    const c = new TelemetryClient({ urls, nodeId, apiKey: API_KEY, apiSecret: API_SECRET, heartbeatIntervalMs: 0, ...extra });
    clients.push(c);
    return c;
  };

  /** The analytics events the fleet wrote for one room, types in stream order. */
  const analyticsOf = async (roomSid: string) => (await analyticsEvents(redis.client()))
    .filter((e) => e.roomId === roomSid || e.room?.sid === roomSid)
    .map((e) => AnalyticsEventType[e.type]);

  /** An SFU's session, written once against the TelemetryService interface, in a room of its own: that room. */
  async function session(s: TelemetryService, label: string, nodeId: string): Promise<Room> {
    const room = ids.roomInfo(label, { creationTime: 1_700_000_000n });
    const alice = ids.participantInfo('alice');
    const cam = new TrackInfo({ sid: ids.of('TR_'), name: 'cam' });
    await s.roomStarted({ room });
    await s.participantJoined({ room, participant: alice, shouldSendEvent: true, guard: 'sig', nodeId });
    await s.participantActive({ room, participant: alice, isMigration: false, guard: 'media', nodeId });
    await s.trackPublished({ room, participantId: alice.sid, identity: alice.identity, track: cam, shouldSendEvent: true });
    await s.trackMuted({ room, participantId: alice.sid, track: cam });
    await s.trackStats({
      roomId: room.sid, roomName: room.name, key: { streamType: 'UPSTREAM', participantId: alice.sid, trackId: cam.sid },
      stat: new AnalyticsStat({ roomId: room.sid, participantId: alice.sid, trackId: cam.sid, streams: [new AnalyticsStream({ primaryPackets: 10, primaryBytes: 12_000n })] }),
    });
    await s.participantLeft({ room, participant: alice, shouldSendEvent: true, guard: 'sig' });
    await s.participantLeft({ room, participant: alice, shouldSendEvent: true, guard: 'media' });
    await s.roomEnded({ room });
    return room;
  }

  it('the same SFU code gives the same webhooks and analytics events in-process and over HTTP', async () => {
    const node = ids.node();
    const inProcess = await session(local.service, 'local', node);
    const remote = await session(client(node), 'remote', node);
    const expectedHooks = local.notifier.events.filter((e) => e.room?.name === inProcess.name).map((e) => e.event);
    expect(expectedHooks).to.deep.equal(['room_started', 'participant_joined', 'track_published', 'participant_left', 'room_finished']);
    await until(() => rx.roomSequence(remote.name).length >= expectedHooks.length, 'the webhooks of the remote session');
    const remoteHooks = rx.received.filter((e) => e.room?.name === remote.name).map((e) => e.event);
    expect(remoteHooks).to.deep.equal(expectedHooks);
    const expectedAnalytics = local.analytics.events.filter((e) => e.roomId === inProcess.sid || e.room?.sid === inProcess.sid).map((e) => AnalyticsEventType[e.type]);
    expect(expectedAnalytics.length).to.be.greaterThan(4);
    expect(await analyticsOf(remote.sid)).to.deep.equal(expectedAnalytics);
  });

  it('batches calls made together and applies them in the order they were made', async () => {
    const reports: RequestReport[] = [];
    const sfu = client(ids.node(), { maxBatch: 250, onRequest: (r) => reports.push(r) });
    const room = new Room({ sid: 'RM_order', name: 'room-order' });
    // single-write events (sent together by the node) mixed with multi-step ones (awaited one by one)
    const kinds = [
      (track: TrackInfo) => sfu.trackMuted({ room, participantId: 'PA_o', track }),
      (track: TrackInfo) => sfu.trackPublished({ room, participantId: 'PA_o', identity: 'o', track, shouldSendEvent: true }),
      (track: TrackInfo) => sfu.trackUnmuted({ room, participantId: 'PA_o', track }),
      (track: TrackInfo) => sfu.trackSubscribed({ room, participantId: 'PA_o', track, shouldSendEvent: true }),
      (track: TrackInfo) => sfu.trackUnpublished({ room, participantId: 'PA_o', identity: 'o', track, shouldSendEvent: true }),
    ];
    const calls = Array.from({ length: 1000 }, (_, i) => kinds[(i * 7 + (i >> 3)) % kinds.length](new TrackInfo({ sid: `TR_${i}` })));
    await Promise.all(calls);
    // one request in flight at a time: what came in meanwhile went in the next batch
    expect(reports.length).to.be.at.least(4).and.at.most(10);
    expect(reports.every((r) => r.status === 200 && r.events <= 250)).to.equal(true);
    const tracks = (await analyticsEvents(redis.client())).filter((e) => e.roomId === 'RM_order').map((e) => e.trackId);
    expect(tracks).to.deep.equal(Array.from({ length: 1000 }, (_, i) => `TR_${i}`));
  });

  it('a batch whose answer was lost is retried on the next node and applied once', async () => {
    // a proxy in front of node 0 that forwards the first request but cuts the connection
    // before the answer: the batch was applied, the client does not know it
    let cut = 0;
    const target = new URL(urls[0]);
    const proxy = http.createServer((req, res) => {
      const fwd = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
        up.resume();
        up.on('end', () => {
          if (cut++ === 0) { req.socket.destroy(); return; }
          res.writeHead(up.statusCode ?? 502).end();
        });
      });
      req.pipe(fwd);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const reports: RequestReport[] = [];
      const sfu = client(ids.node(), { urls: [`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, urls[1]], onRequest: (r) => reports.push(r) });
      await sfu.roomStarted({ room: new Room({ sid: 'RM_lost', name: 'room-lost' }) });
      expect(reports.map((r) => r.status)).to.deep.equal(['network-error', 200]);
      expect(cut).to.equal(1);
      expect(await analyticsOf('RM_lost')).to.deep.equal(['ROOM_CREATED']);
      await until(() => rx.roomSequence('room-lost').length === 1, 'room_started');
      expect(rx.received.filter((e) => e.room?.name === 'room-lost').map((e) => e.event)).to.deep.equal(['room_started']);
    } finally {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });

  it('a coordinator that is down is skipped: every call still lands', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const sfu = client(ids.node(), { urls: [dead, ...urls], maxBatch: 1, baseBackoffMs: 10 });
    for (let i = 0; i < 6; i++) await sfu.roomStarted({ room: new Room({ sid: 'RM_dead', name: 'room-dead' }) });
    expect(await analyticsOf('RM_dead')).to.have.length(6);
  });

  it('a bad call is refused alone, naming the field, before it is sent: the calls around it land', async () => {
    const sfu = client(ids.node());
    const room = new Room({ sid: 'RM_bad', name: 'room-bad' });
    const good = sfu.roomStarted({ room });
    const bad = sfu.trackMuted({ room, participantId: 'PA_b' } as never);
    const [g, b] = await Promise.allSettled([good, bad]);
    expect(g.status).to.equal('fulfilled');
    expect(b.status).to.equal('rejected');
    const err = (b as PromiseRejectedResult).reason as TelemetryRequestError;
    expect(err).to.be.instanceOf(TelemetryRequestError);
    expect(err.status).to.equal(400);
    expect(err.message).to.match(/^track: required by trackMuted/);
    expect(await analyticsOf('RM_bad')).to.deep.equal(['ROOM_CREATED']);
    await sfu.roomEnded({ room });
    expect(await analyticsOf('RM_bad')).to.deep.equal(['ROOM_CREATED', 'ROOM_ENDED']);
  });

  it('heartbeats keep the SFU node\'s lease; a destroyed client (a crashed SFU) lets it lapse: participant_left', async () => {
    const node = ids.node();
    const sfu = client(node, { heartbeatIntervalMs: 300 });
    const room = new Room({ sid: 'RM_crash', name: 'room-crash' });
    const bob = new ParticipantInfo({ sid: 'PA_bob', identity: 'bob' });
    await sfu.participantActive({ room, participant: bob, isMigration: false, guard: 'media' });
    const seen = async () => Number(await redis.client().zscore('tc:{nodes}:seen', node));
    // the lease is renewed by heartbeats alone, past twice NODE_LEASE, and the worker stays open
    const first = await seen();
    await until(async () => (await seen()) > first + 4000, 'heartbeats renewing the lease past 2 × NODE_LEASE', 20_000);
    expect(rx.received.some((e) => e.room?.name === 'room-crash' && e.event === 'participant_left')).to.equal(false);
    sfu.destroy();
    await until(() => rx.received.some((e) => e.room?.name === 'room-crash' && e.event === 'participant_left'), 'participant_left after the lease lapsed', 30_000);
  });
});
