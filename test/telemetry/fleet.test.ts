import type { ChildProcess } from 'node:child_process';
import { AnalyticsStat, AnalyticsStream, ParticipantInfo, Room, WebhookEvent } from '@livekit/protocol';
import { Queue } from 'bullmq';
import { expect } from 'chai';
import { loadOptions } from '../../lib/config/options';
import { Coordinator } from '../../lib/coordinator';
import { TELEMETRY_QUEUE } from '../../lib/jobs/periodic';
import { bullConnection, closeBullConnection } from '../../lib/redis/connection';
import { createLogger } from '../../lib/log';
import { RecordingNotifier } from '../support/fakes';
import { ids } from '../support/fixture';
import { startNodeProcess, stopNodeProcess } from '../support/processes';
import { until, usePrivateRedis } from '../support/redis';
import { analyticsStats } from '../support/streams';

/**
 * Two coordinator node processes share one redis-server and run the periodic work on
 * BullMQ job schedulers. Events are sent through a third Coordinator (no periodic work
 * of its own), as an SFU's calls would land on any node.
 */
describe('a fleet of two node processes on BullMQ job schedulers', function () {
  this.timeout(120_000);
  const redis = usePrivateRedis();
  const env = () => ({
    ...redis.env(), REGISTRY_SHARDS: '8', FLUSH_INTERVAL: '500ms', WORKER_CLEANUP_WAIT: '1s', NODE_LEASE: '1s',
  });
  let nodes: ChildProcess[] = [];
  let entry: Coordinator;

  before(async () => {
    nodes = await Promise.all([startNodeProcess({ ...env(), NODE_ID: 'coord-1' }), startNodeProcess({ ...env(), NODE_ID: 'coord-2' })]);
    entry = new Coordinator({ redis: redis.target, options: loadOptions(env()), log: createLogger('silent'), notifier: new RecordingNotifier() });
  });
  redis.cleanups.push(async () => {
    await entry.close();
    await Promise.all(nodes.map((p) => stopNodeProcess(p)));
  });

  const stat = () => new AnalyticsStat({ score: 4, streams: [new AnalyticsStream({ primaryBytes: 100n, primaryPackets: 1 })] });
  const streamStats = () => analyticsStats(redis.client(), entry.registry.keys);
  const webhooks = async () => Object.values(await redis.client().hgetall('test:webhooks')).map((j) => WebhookEvent.fromJsonString(j));

  it('declares flush, reap and expire-nodes as job schedulers', async () => {
    const connection = bullConnection(redis.target);
    const queue = new Queue(TELEMETRY_QUEUE, { connection, prefix: entry.registry.keys.bullPrefix() });
    try {
      const schedulers = await queue.getJobSchedulers();
      expect(schedulers.map((s) => s.key).sort()).to.deep.equal(['expire-nodes', 'flush', 'reap']);
      expect(schedulers.find((s) => s.key === 'flush')?.every).to.equal(500);
    } finally {
      await queue.close();
      await closeBullConnection(connection); // a cluster's client BullMQ was given stays open
    }
  });

  it('each interval\'s stats arrive once, flushed by the nodes, across 6 intervals', async () => {
    const room = new Room({ sid: 'RM_fleet', name: 'fleet' });
    const people = Array.from({ length: 40 }, (_, i) => new ParticipantInfo({ sid: `PA_f${i}`, identity: `u${i}` }));
    const node = ids.node();
    for (const p of people) await entry.service.participantJoined({ room, participant: p, shouldSendEvent: false, guard: 'g', nodeId: node });
    let sent = 0;
    for (let interval = 0; interval < 6; interval++) {
      for (const p of people) {
        await entry.service.trackStats({ roomId: room.sid, roomName: room.name, key: { streamType: 'UPSTREAM', participantId: p.sid, trackId: `TR_${interval}`, track: true }, stat: stat() });
        sent++;
      }
      // wait for this interval's stats to be flushed before the next
      await until(async () => (await streamStats()).filter((s) => s.roomId === room.sid).length >= sent, `interval ${interval} flushed`);
    }
    const seen = (await streamStats()).filter((s) => s.roomId === room.sid);
    expect(seen).to.have.length(sent);
    expect(new Set(seen.map((s) => `${s.participantId}/${s.trackId}`)).size).to.equal(sent);
    expect(new Set(seen.map((s) => s.node)).size).to.be.at.least(1);
  });

  it('an SFU node whose lease lapses: exactly one participant_left for its active participant, none for one that resumed elsewhere', async () => {
    const room = new Room({ sid: 'RM_dead', name: 'dead' });
    const stays = new ParticipantInfo({ sid: 'PA_stays', identity: 'stays' });
    const moved = new ParticipantInfo({ sid: 'PA_moved', identity: 'moved' });
    const dead = ids.node('dead');
    const alive = ids.node('alive');
    await entry.registry.heartbeat(dead);
    for (const p of [stays, moved]) {
      await entry.service.participantJoined({ room, participant: p, shouldSendEvent: true, guard: `sig-${p.sid}`, nodeId: dead });
      await entry.service.participantActive({ room, participant: p, isMigration: false, guard: `media-${p.sid}`, nodeId: dead });
    }
    // `moved` resumes on another SFU node, which stays alive
    await entry.registry.heartbeat(alive);
    await entry.service.participantJoined({ room, participant: moved, shouldSendEvent: false, guard: 'sig-moved-b', nodeId: alive });
    const keepAlive = setInterval(() => void entry.registry.heartbeat(alive), 200);
    try {
      // the dead node says nothing more; the nodes' expire-nodes job finds it
      await until(async () => (await webhooks()).some((w) => w.event === 'participant_left' && w.room?.sid === room.sid), 'participant_left', 20_000);
      // give a duplicate every chance to show up: two more expiry rounds
      const lapsedSeen = await until(async () => (await entry.registry.lapsedNodes(1000)).every((l) => l.nodeId !== dead) && (await redis.client().zscore(entry.registry.keys.nodesSeen(), dead)) === null, 'the dead node to be forgotten', 20_000);
      expect(lapsedSeen).to.equal(true);
      const mine = (await webhooks()).filter((w) => w.room?.sid === room.sid && w.event.startsWith('participant_'));
      expect(mine.filter((w) => w.event === 'participant_left').map((w) => w.participant?.identity)).to.deep.equal(['stays']);
      expect(mine.filter((w) => w.event === 'participant_connection_aborted')).to.deep.equal([]);
      expect((await entry.registry.get({ roomId: room.sid, participantId: 'PA_moved' }))?.closedAt).to.equal(null);
    } finally {
      clearInterval(keepAlive);
    }
  });

  it('reaps a worker closed for WORKER_CLEANUP_WAIT, after its last stats went out; a re-opened one stays', async () => {
    const room = new Room({ sid: 'RM_reap', name: 'reap' });
    const gone = new ParticipantInfo({ sid: 'PA_gone', identity: 'gone' });
    const back = new ParticipantInfo({ sid: 'PA_back', identity: 'back' });
    const node = ids.node();
    for (const p of [gone, back]) {
      await entry.service.participantActive({ room, participant: p, isMigration: false, guard: 'g', nodeId: node });
      await entry.service.participantLeft({ room, participant: p, shouldSendEvent: true, guard: 'g' });
    }
    // a last stat arrives after the leave, while the worker is closed but not reaped
    await entry.service.trackStats({ roomId: room.sid, roomName: room.name, key: { streamType: 'UPSTREAM', participantId: gone.sid, trackId: 'TR_last', track: true }, stat: stat() });
    await entry.service.participantJoined({ room, participant: back, shouldSendEvent: false, guard: 'g2', nodeId: node });
    await until(async () => (await entry.registry.get({ roomId: room.sid, participantId: gone.sid })) === null, 'the closed worker to be reaped', 20_000);
    expect((await streamStats()).filter((s) => s.participantId === gone.sid).map((s) => s.trackId)).to.deep.equal(['TR_last']);
    expect((await entry.registry.get({ roomId: room.sid, participantId: back.sid }))?.closedAt).to.equal(null);
  });

  it('a node killed with SIGKILL: the other node goes on flushing', async () => {
    await stopNodeProcess(nodes[0], 'SIGKILL');
    const room = new Room({ sid: 'RM_after_kill', name: 'k' });
    const p = new ParticipantInfo({ sid: 'PA_k', identity: 'k' });
    await entry.service.participantJoined({ room, participant: p, shouldSendEvent: false, guard: 'g', nodeId: ids.node() });
    await entry.service.trackStats({ roomId: room.sid, roomName: room.name, key: { streamType: 'DOWNSTREAM', participantId: p.sid, trackId: 'TR_k', track: true }, stat: stat() });
    await until(async () => (await streamStats()).some((s) => s.roomId === room.sid), 'the stat to be flushed by the surviving node', 30_000);
    expect((await streamStats()).filter((s) => s.roomId === room.sid)).to.have.length(1);
  });
});
