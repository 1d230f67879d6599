import { AnalyticsStat, AnalyticsStream, Room } from '@livekit/protocol';
import { Timestamp } from '@bufbuild/protobuf';
import { expect } from 'chai';
import { loadOptions } from '../../lib/config/options';
import { Coordinator } from '../../lib/coordinator';
import { createLogger } from '../../lib/log';
import { RedisStreamsAnalytics } from '../../lib/telemetry/analytics-streams';
import { newId } from '../../lib/ids';
import { RecordingNotifier } from '../support/fakes';
import { ids } from '../support/fixture';
import { usePrivateRedis } from '../support/redis';
import { analyticsStats } from '../support/streams';
import { coordinatorOn } from '../support/telemetry';

/** Stats buffered in Redis, flushed once to the analytics stream, even through a killed flush. */
describe('stats: buffered in Redis, flushed exactly once to the analytics stream', () => {
  const redis = usePrivateRedis();
  let c: Coordinator;
  before(() => { c = coordinatorOn(redis, { REGISTRY_SHARDS: '4', NODE_ID: 'coord-1', ANALYTICS_MAXLEN: '100000' }, { flush: { workersPerBatch: 3, leaseMs: 300 } }); });

  const stat = (bytes: number, end: number) => new AnalyticsStat({
    score: 4, streams: [new AnalyticsStream({ primaryBytes: BigInt(bytes), primaryPackets: 1, startTime: Timestamp.fromDate(new Date(end - 1000)), endTime: Timestamp.fromDate(new Date(end)) })],
  });
  const streamStats = () => analyticsStats(redis.client(), c.registry.keys);

  /** A new room with `count` participants joined on one SFU node. */
  async function participants(count: number) {
    const room = ids.roomInfo();
    const node = ids.node();
    const refs = Array.from({ length: count }, (_, i) => ids.participantInfo(`u${i}`));
    for (const p of refs) await c.service.participantJoined({ room, participant: p, shouldSendEvent: false, guard: 'g', nodeId: node });
    return { room, refs };
  }

  it('drops a stat for a participant with no worker, keeps the traffic counters', async () => {
    const before = await c.stats.counters();
    await c.service.trackStats({ roomId: 'RM_none', roomName: 'x', key: { streamType: 'UPSTREAM', participantId: 'PA_none', trackId: 'TR_1', track: true }, stat: stat(100, Date.now()) });
    await c.service.flushStats();
    expect((await streamStats()).filter((s) => s.participantId === 'PA_none')).to.deep.equal([]);
    expect((await c.stats.counters())['in:bytes'] - (before['in:bytes'] ?? 0)).to.equal(100);
  });

  it('coalesces each track and direction into one AnalyticsStat, stamped, with AS_ ids and the node id', async () => {
    const { room, refs } = await participants(1);
    const now = Date.now();
    for (const [dir, bytes] of [['UPSTREAM', 10], ['UPSTREAM', 20], ['DOWNSTREAM', 5]] as const) {
      await c.service.trackStats({ roomId: room.sid, roomName: room.name, key: { streamType: dir, participantId: refs[0].sid, trackId: 'TR_a', track: true }, stat: stat(bytes, now) });
    }
    await c.service.flushStats();
    const mine = (await streamStats()).filter((s) => s.participantId === refs[0].sid);
    expect(mine.map((s) => [s.kind, Number(s.streams[0].primaryBytes)]).sort()).to.deep.equal([[0, 30], [1, 5]]);
    for (const s of mine) {
      expect(s).to.deep.include({ trackId: 'TR_a', roomId: room.sid, roomName: room.name, node: 'coord-1' });
      expect(s.id).to.match(/^AS_/);
      expect(s.timeStamp).to.not.equal(undefined);
    }
  });

  it('a worker with 9,000 buffered stats, and workers past the per-batch budget: every stat flushed, nothing left behind', async () => {
    const { room, refs } = await participants(6);
    const now = Date.now();
    // one worker far past what one script can unpack at once, five more on distinct tracks
    const calls: Promise<void>[] = [];
    for (let i = 0; i < 9000; i++) {
      calls.push(c.service.trackStats({ roomId: room.sid, roomName: room.name, key: { streamType: 'UPSTREAM', participantId: refs[0].sid, trackId: `TR_big${i % 3}`, track: true }, stat: stat(1, now) }));
    }
    for (const p of refs.slice(1)) {
      for (let i = 0; i < 400; i++) calls.push(c.service.trackStats({ roomId: room.sid, roomName: room.name, key: { streamType: 'UPSTREAM', participantId: p.sid, trackId: `TR_${i}`, track: true }, stat: stat(2, now) }));
    }
    await Promise.all(calls);
    await c.service.flushStats();
    const mine = (await streamStats()).filter((s) => s.roomId === room.sid);
    const big = mine.filter((s) => s.participantId === refs[0].sid);
    expect(big.map((s) => [s.trackId, Number(s.streams[0].primaryBytes)]).sort()).to.deep.equal([['TR_big0', 3000], ['TR_big1', 3000], ['TR_big2', 3000]]);
    expect(mine.filter((s) => s.participantId !== refs[0].sid)).to.have.length(5 * 400);
    const shard = c.registry.keys.shardOf(room.sid);
    expect(await redis.client().scard(c.registry.keys.dirty(shard))).to.equal(0);
    expect(await redis.client().zcard(c.registry.keys.inflight(shard))).to.equal(0);
  });

  it('a flush killed after claiming, and one killed after committing: every stat arrives once', async () => {
    const { room, refs } = await participants(9);
    const now = Date.now();
    for (const p of refs) {
      await c.service.trackStats({ roomId: room.sid, roomName: room.name, key: { streamType: 'UPSTREAM', participantId: p.sid, trackId: 'TR_v', track: true }, stat: stat(7, now) });
    }
    const shard = c.registry.keys.shardOf(room.sid);
    // node 1 claims a batch and dies before sending it
    const lost = await c.stats.claim(shard, newId('SB_'), 3, 300);
    expect(lost?.workers).to.have.length(3);
    // node 2 claims a batch, commits it, and dies before finishing it
    const committed = await c.stats.claim(shard, newId('SB_'), 3, 300);
    const sink = new RedisStreamsAnalytics(redis.client(), c.registry.keys, 'coord-2', 100000);
    const partial = committed!.workers.map((w) => new AnalyticsStat({ roomId: w.roomId, participantId: w.participantId, trackId: 'TR_v' }));
    await sink.sendStats(partial, committed!.id);
    // the next flushes send what is left, then, once the leases lapse, the two orphaned batches
    let sent = 0;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      sent += await c.flusher.flushShard(shard);
      const seen = (await streamStats()).filter((s) => s.roomId === room.sid);
      if (seen.length >= 9 && sent >= 6) break;
    }
    const seen = (await streamStats()).filter((s) => s.roomId === room.sid);
    expect(seen.map((s) => s.participantId).sort()).to.deep.equal(refs.map((p) => p.sid).sort());
    expect(await redis.client().zcard(c.registry.keys.inflight(shard))).to.equal(0);
  });

  it('a stat buffered during a flush goes out with the next one, not lost, not twice', async () => {
    const { room, refs } = await participants(20);
    let expected = 0;
    const flushes: Promise<unknown>[] = [];
    for (let round = 0; round < 10; round++) {
      for (const p of refs) {
        await c.service.trackStats({ roomId: room.sid, roomName: room.name, key: { streamType: 'DOWNSTREAM', participantId: p.sid, trackId: `TR_${round}`, track: true }, stat: stat(1, Date.now()) });
        expected++;
      }
      flushes.push(c.service.flushStats());
    }
    await Promise.all(flushes);
    await c.service.flushStats();
    const seen = (await streamStats()).filter((s) => s.roomId === room.sid);
    expect(seen).to.have.length(expected);
    expect(new Set(seen.map((s) => `${s.participantId}/${s.trackId}`)).size).to.equal(expected);
  });

  it('the analytics streams hold protobuf JSON in a `data` field, events with AE_ ids', async () => {
    const sink = new RedisStreamsAnalytics(redis.client(), c.registry.keys, 'coord-1', 100000);
    const rooms = new Coordinator({
      redis: redis.target, options: loadOptions({ REGISTRY_SHARDS: '4', NODE_ID: 'coord-1' }), log: createLogger('silent'),
      notifier: new RecordingNotifier(), analytics: sink,
    });
    try {
      await rooms.service.roomEnded({ room: new Room({ sid: 'RM_stream', name: 'streamed' }) });
      const [[, fields]] = await redis.client().xrevrange(c.registry.keys.analyticsStream('events'), '+', '-', 'COUNT', 1);
      expect(fields[0]).to.equal('data');
      const ev = JSON.parse(fields[1]);
      expect(ev).to.deep.include({ type: 'ROOM_ENDED', roomId: 'RM_stream', nodeId: 'coord-1' });
      expect(ev.id).to.match(/^AE_/);
      expect(ev.room).to.deep.equal({ sid: 'RM_stream', name: 'streamed' });
    } finally {
      await rooms.close();
    }
  });
});

describe('trackStats: bad input gets a clear error and buffers nothing', () => {
  const redis = usePrivateRedis();
  let c: Coordinator;
  before(() => {
    c = coordinatorOn(redis, { REGISTRY_SHARDS: '2' });
  });
  const good = () => ({ roomId: 'RM_1', roomName: 'r', key: { streamType: 'UPSTREAM' as const, participantId: 'PA_1', trackId: 'TR_1', track: true }, stat: new AnalyticsStat() });
  const cases: [string, (a: ReturnType<typeof good>) => unknown, RegExp][] = [
    ['no roomId', (a) => ({ ...a, roomId: '' }), /roomId: must be a non-empty string/],
    ['no participant', (a) => ({ ...a, key: { ...a.key, participantId: undefined } }), /key\.participantId: required by StatsKey/],
    ['a newline in the track id', (a) => ({ ...a, key: { ...a.key, trackId: 'TR\n1' } }), /key\.trackId: must not contain a newline/],
    ['an unknown stream type', (a) => ({ ...a, key: { ...a.key, streamType: 'SIDEWAYS' } }), /key\.streamType: must be one of UPSTREAM, DOWNSTREAM/],
    ['a stat that is not an object', (a) => ({ ...a, stat: 'fast' }), /stat: not an AnalyticsStat the flush can coalesce: must be an object/],
  ];
  for (const [name, mutate, message] of cases) {
    it(`rejects ${name}`, async () => {
      await c.registry.open({ roomId: 'RM_1', participantId: 'PA_1', roomName: 'r', identity: 'i', guard: 'g', nodeId: 'sfu' });
      const before = await redis.dbsize();
      let err: Error | undefined;
      try { await c.service.trackStats(mutate(good()) as never); } catch (e) { err = e as Error; }
      expect(err?.message).to.match(message);
      expect(await redis.dbsize()).to.equal(before);
    });
  }
});
