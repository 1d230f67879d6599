import type { ChildProcess } from 'node:child_process';
import { AnalyticsStat, AnalyticsStream, ParticipantInfo, Room, TrackInfo, TrackType } from '@livekit/protocol';
import { expect } from 'chai';
import { TelemetryClient } from '../../lib/client/telemetry-client';
import { ids } from '../support/fixture';
import { startHttpNodes, stopNodeProcess } from '../support/processes';
import { API_KEY, API_SECRET, TestReceiver } from '../support/receiver';
import { until, usePrivateRedis } from '../support/redis';

/**
 * Memory grows with live participants, not with time: a small fleet's traffic on two node
 * processes, then everything ends (rooms, participants, one SFU node dying), and once the
 * retention windows have passed, the keys left in Redis are only those that account for
 * the fleet as a whole (per-shard counts, analytics streams, BullMQ's own bounded sets).
 */
describe('every key has a bound: after a fleet run and its retention, nothing is left behind', function () {
  this.timeout(120_000);
  const redis = usePrivateRedis();
  const rx = new TestReceiver();
  const nodes: ChildProcess[] = [];
  redis.cleanups.push(async () => {
    await Promise.all(nodes.map((n) => stopNodeProcess(n)));
    await rx.stop();
  });

  /** Keys that stand for the fleet as a whole, whatever its size or age. */
  const ACCOUNTED = [
    /^tc:\{s\d+\}:workers$/, // per-shard worker count (0 once every worker is reaped)
    /^tc:\{s\d+\}:counters$/, // per-shard traffic counters, a fixed set of fields
    /^tc:analytics:(events|stats|node_rooms|stats_rejected)$/, // trimmed to ANALYTICS_MAXLEN
    /^\{tc:bull(:\d+-\d+)?\}:/, // BullMQ, every queue shard: jobs kept by count and age (removeOnComplete / removeOnFail), schedulers
    /^tc:\{fleet\}:queue-shards$/, // the fleet's QUEUE_SHARDS, one number
    /^tc:\{wu:[0-9a-f]+\}:(status|latency)$/, // per webhook URL: fixed fields, the latest 1,000 latencies (as many as WEBHOOK_URLS)
  ];

  it('leaves only per-shard counts, trimmed streams and BullMQ\'s bounded sets', async () => {
    await rx.start();
    const fleet = await startHttpNodes(2, {
      ...redis.env(), API_KEY, API_SECRET, WEBHOOK_URLS: rx.url, REGISTRY_SHARDS: '4',
      FLUSH_INTERVAL: '300ms', WORKER_CLEANUP_WAIT: '500ms', NODE_LEASE: '1s', IDEMPOTENCY_WINDOW: '1s', WEBHOOK_DEDUPE_WINDOW: '1s',
    });
    nodes.push(...fleet.nodes);
    const sfu = (id: string) => new TelemetryClient({ urls: fleet.urls, nodeId: id, apiKey: API_KEY, apiSecret: API_SECRET, heartbeatIntervalMs: 250 });
    const a = sfu(ids.node('a'));
    const b = sfu(ids.node('b'));
    const leaves: string[] = [];
    for (let r = 0; r < 3; r++) {
      const room = new Room({ sid: `RM_k${r}`, name: `keys-${r}` });
      await a.roomStarted({ room });
      await Promise.all([0, 1, 2].map(async (i) => {
        const c = i === 2 && r === 0 ? b : a; // one participant lives on the SFU node that dies
        const p = new ParticipantInfo({ sid: `PA_k${r}${i}`, identity: `k${r}${i}` });
        const track = new TrackInfo({ sid: `TR_k${r}${i}`, type: TrackType.AUDIO });
        await c.participantJoined({ room, participant: p, shouldSendEvent: true, guard: `sig-${r}${i}` });
        await c.participantActive({ room, participant: p, isMigration: false, guard: `media-${r}${i}` });
        await c.trackPublished({ room, participantId: p.sid, identity: p.identity, track, shouldSendEvent: true });
        for (let s = 0; s < 3; s++) {
          await c.trackStats({ roomId: room.sid, roomName: room.name, key: { streamType: 'UPSTREAM', participantId: p.sid, trackId: track.sid },
            stat: new AnalyticsStat({ score: 4, streams: [new AnalyticsStream({ primaryPackets: 10, primaryBytes: 1000n })] }) });
        }
        leaves.push(p.identity);
        if (c === b) return; // its SFU node dies: the lease lapses and the fleet raises the leave
        await c.trackUnpublished({ room, participantId: p.sid, identity: p.identity, track, shouldSendEvent: true });
        await c.participantLeft({ room, participant: p, shouldSendEvent: true, guard: `sig-${r}${i}` });
        await c.participantLeft({ room, participant: p, shouldSendEvent: true, guard: `media-${r}${i}` });
      }));
    }
    await b.flushStats();
    b.destroy();
    await until(() => leaves.every((who) => rx.received.some((e) => e.event === 'participant_left' && e.participant?.identity === who)), 'every participant_left', 30_000);
    for (let r = 0; r < 3; r++) await a.roomEnded({ room: new Room({ sid: `RM_k${r}`, name: `keys-${r}` }) });
    await a.close(); // its lease lapses too
    await until(() => [0, 1, 2].every((r) => rx.received.some((e) => e.event === 'room_finished' && e.room?.name === `keys-${r}`)), 'room_finished', 30_000);

    const admin = redis.client();
    const leftOver = async () => (await redis.keys('*', admin)).filter((k) => !ACCOUNTED.some((re) => re.test(k))).sort();
    // workers reaped, leases lapsed, batches flushed, event ids and lane ids past their windows
    await until(async () => (await leftOver()).length === 0, 'nothing but accounted keys', 60_000).catch(async (e) => {
      throw new Error(`${(e as Error).message}; left: ${(await leftOver()).slice(0, 20).join(', ')}`);
    });
    const counts = await Promise.all([0, 1, 2, 3].map((s) => admin.get(`tc:{s${s}}:workers`)));
    expect(counts.map((c) => Number(c ?? 0))).to.deep.equal([0, 0, 0, 0]);
    // the stats made it out before their workers went
    expect(await admin.xlen('tc:analytics:stats')).to.be.at.least(9);
  });
});
