import { ParticipantInfo, Room } from '@livekit/protocol';
import { expect } from 'chai';
import Redis from 'ioredis';
import type { Coordinator } from '../../lib/coordinator';
import type { StatsKey } from '../../lib/telemetry/types';
import { FlakyAnalytics } from '../support/fakes';
import { ids } from '../support/fixture';
import { slotOf, until, usePrivateRedis } from '../support/redis';
import { analyticsStats, rejectedStats } from '../support/streams';
import { coordinatorOn } from '../support/telemetry';

/** What SFUs sent and got buffered, and no flush can coalesce (or LiveKit's isValid skips). */
const BAD_STATS = [
  '{"streams":[{"startTime":"yesterday"}]}',
  '{"streams":[{"rtt":-1}]}',
  '{"streams":[{"frames":1.5}]}',
  '{"score":"x"}',
  '{"streams":[null]}',
  '{"streams":{}}',
  '{"streams":[{"primaryBytes":"18446744073709551615"}]}',
];

const good = (bytes: number) => JSON.stringify({
  score: 4, streams: [{ primaryBytes: String(bytes), primaryPackets: 1, startTime: '2024-01-01T00:00:00Z', endTime: '2024-01-01T00:00:01Z' }],
});

/**
 * A stat the flush cannot coalesce, and a batch whose flush keeps failing, end in the
 * stats dead-letter stream with their reason; nothing else of their batch is held up.
 */
describe('stats: a bad stat never holds up the others', () => {
  const redis = usePrivateRedis();
  let c: Coordinator;
  before(() => { c = coordinatorOn(redis, { REGISTRY_SHARDS: '4', NODE_ID: 'coord-p' }); });

  const keys = () => c.registry.keys;
  const streamStats = () => analyticsStats(redis.client(), keys());
  const deadLetters = () => rejectedStats(redis.client(), keys());

  /** A new room with `people` participants joined on one SFU node, and its shard. */
  async function room(people: number) {
    const r = ids.roomInfo();
    const node = ids.node();
    const refs = Array.from({ length: people }, (_, i) => ids.participantInfo(`u${i}`));
    for (const p of refs) await c.service.participantJoined({ room: r, participant: p, shouldSendEvent: false, guard: 'g', nodeId: node });
    return { room: r, refs, shard: keys().shardOf(r.sid) };
  }
  const key = (participantId: string, trackId: string, streamType: StatsKey['streamType'] = 'UPSTREAM'): StatsKey => ({ streamType, participantId, trackId, track: true });
  /** As a library caller buffers a plain-object stat: its JSON as given, nothing checked. */
  const buffer = (roomId: string, k: StatsKey, json: string) => c.stats.add(roomId, k, JSON.parse(json), json);

  it('a stat that cannot be coalesced goes to the dead-letter stream with its reason; every good stat of its batch is flushed', async () => {
    const { room: r, refs, shard } = await room(4);
    const sends: Promise<void>[] = [];
    const goods: { participantId: string; trackId: string; bytes: number; kind: number }[] = [];
    refs.forEach((p, i) => {
      for (const [t, dir] of [['TR_a', 'UPSTREAM'], ['TR_b', 'DOWNSTREAM']] as const) {
        const bytes = 100 * (i + 1) + (dir === 'UPSTREAM' ? 1 : 2);
        sends.push(buffer(r.sid, key(p.sid, t, dir), good(bytes)));
        goods.push({ participantId: p.sid, trackId: t, bytes, kind: dir === 'UPSTREAM' ? 0 : 1 });
      }
    });
    // each bad stat on its own track of one of the participants, one more beside a good stat of a track
    const bads = BAD_STATS.map((json, i) => ({ json, participantId: refs[i % refs.length].sid, trackId: `TR_bad${i}` }));
    bads.push({ json: '{"streams":[{"rtt":-1}]}', participantId: refs[0].sid, trackId: 'TR_a' });
    for (const b of bads) sends.push(buffer(r.sid, key(b.participantId, b.trackId), b.json));
    await Promise.all(sends);

    await c.flusher.flushShard(shard);

    const seen = (await streamStats()).filter((s) => s.roomId === r.sid);
    for (const g of goods) {
      const s = seen.filter((x) => x.participantId === g.participantId && x.trackId === g.trackId && x.kind === g.kind);
      expect(s.map((x) => Number(x.streams[0].primaryBytes)), `${g.participantId}/${g.trackId}`).to.deep.equal([g.bytes]);
    }
    const dead = (await deadLetters()).filter((d) => d.roomId === r.sid);
    for (const b of bads) {
      const entry = dead.find((d) => d.data === b.json && d.participantId === b.participantId && d.trackId === b.trackId);
      expect(entry, `dead letter of ${b.json} on ${b.trackId}`).to.not.equal(undefined);
      expect(entry!.reason).to.be.a('string').and.not.equal('');
      expect(entry!.kind).to.equal('UPSTREAM');
    }
    expect(dead).to.have.length(bads.length);
    expect(await redis.client().zcard(keys().inflight(shard))).to.equal(0);
    expect(await redis.client().scard(keys().dirty(shard))).to.equal(0);
  });

  it('stats stored raw by an earlier version, not even JSON: the bad ones are dead letters, the good one is flushed', async () => {
    const { room: r, refs, shard } = await room(1);
    const wid = keys().workerId(r.sid, refs[0].sid);
    const raws = ['{not json', 'null', '5', '{"mime":5,"streams":[{}]}', '{"streams":[{"videoLayers":[null]}]}'];
    await redis.client().rpush(`${keys().shardBase(shard)}stats:${wid}`, `in|TR_ok\n${good(77)}`, ...raws.map((j, i) => `in|TR_raw${i}\n${j}`));
    await redis.client().sadd(keys().dirty(shard), wid);

    await c.flusher.flushShard(shard);

    const seen = (await streamStats()).filter((s) => s.participantId === refs[0].sid);
    expect(seen.map((s) => [s.trackId, Number(s.streams[0].primaryBytes)])).to.deep.equal([['TR_ok', 77]]);
    const dead = (await deadLetters()).filter((d) => d.participantId === refs[0].sid);
    expect(dead.map((d) => [d.trackId, d.data]).sort()).to.deep.equal(raws.map((j, i) => [`TR_raw${i}`, j]).sort());
    for (const d of dead) expect(d.reason).to.not.equal('');
  });

  it('a counter Redis cannot add (2^64-1 bytes) fails none of the stats sent in the same tick', async () => {
    const { room: r, refs, shard } = await room(2);
    const before = await c.stats.counters();
    const wrapped = '{"streams":[{"primaryBytes":"18446744073709551615","primaryPackets":1}]}';
    const results = await Promise.allSettled([
      buffer(r.sid, key(refs[0].sid, 'TR_good'), good(5)),
      buffer(r.sid, key(refs[1].sid, 'TR_wrapped'), wrapped),
    ]);
    expect(results.map((x) => x.status)).to.deep.equal(['fulfilled', 'fulfilled']);
    await c.flusher.flushShard(shard);
    const seen = (await streamStats()).filter((s) => s.participantId === refs[0].sid);
    expect(seen.map((s) => [s.trackId, Number(s.streams[0].primaryBytes)])).to.deep.equal([['TR_good', 5]]);
    // only the stat LiveKit's isValid keeps is counted as traffic
    const after = await c.stats.counters();
    expect(after['in:bytes'] - (before['in:bytes'] ?? 0)).to.equal(5);
    expect(after['in:packets'] - (before['in:packets'] ?? 0)).to.equal(1);
    expect((await deadLetters()).filter((d) => d.participantId === refs[1].sid).map((d) => d.data)).to.deep.equal([wrapped]);
  });

  it('a newline in a stat or an id, given in-process, fails none of the other stats of the tick', async () => {
    const { room: r, refs, shard } = await room(2);
    const pretty = JSON.stringify(JSON.parse(good(6)), null, 2);
    const results = await Promise.allSettled([
      buffer(r.sid, key(refs[0].sid, 'TR_plain'), good(5)),
      c.stats.add(r.sid, key(refs[0].sid, 'TR_pretty'), JSON.parse(pretty), pretty),
      buffer(r.sid, key(refs[1].sid, 'TR\nsplit'), good(7)),
    ]);
    expect(results.map((x) => x.status)).to.deep.equal(['fulfilled', 'fulfilled', 'rejected']);
    await c.flusher.flushShard(shard);
    const seen = (await streamStats()).filter((s) => s.roomId === r.sid);
    expect(seen.map((s) => [s.trackId, Number(s.streams[0].primaryBytes)]).sort()).to.deep.equal([['TR_plain', 5], ['TR_pretty', 6]]);
  });

  it('bufferStats leaves a counter it cannot add as it is, and still buffers the stats', async () => {
    const { room: r, refs, shard } = await room(1);
    const counters = `${keys().shardBase(shard)}test-counters`;
    await redis.client().hset(counters, 'in:bytes', '9223372036854775800', 'in:odd', 'not a number');
    const wid = keys().workerId(r.sid, refs[0].sid);
    const buffered = await redis.client().bufferStats(
      4, keys().dirty(shard), counters, keys().worker(shard, wid), keys().statsBuffer(shard, wid), 4,
      'in:bytes', '100', 'in:odd', '1', 'in:huge', '99999999999999999999', 'in:packets', '3',
      wid, `1\nin|TR_1\n${good(1)}\n`);
    expect(buffered).to.equal(1);
    expect(await redis.client().hgetall(counters)).to.deep.equal({ 'in:bytes': '9223372036854775800', 'in:odd': 'not a number', 'in:packets': '3' });
    await c.flusher.flushShard(shard);
    expect((await streamStats()).filter((s) => s.participantId === refs[0].sid)).to.have.length(1);
  });

  it('after a flush no committed batch marker is left behind', async () => {
    const { room: r, refs, shard } = await room(3);
    for (const p of refs) await buffer(r.sid, key(p.sid, 'TR_m'), good(9));
    await c.flusher.flushShard(shard);
    expect((await streamStats()).filter((s) => s.roomId === r.sid)).to.have.length(3);
    expect(await redis.client().zcard(keys().committedStatBatches())).to.equal(0);
    // and dead-letter batch markers go too
    await buffer(r.sid, key(refs[0].sid, 'TR_m2'), '{"score":"x"}');
    await c.flusher.flushShard(shard);
    expect((await deadLetters()).filter((d) => d.participantId === refs[0].sid && d.trackId === 'TR_m2')).to.have.length(1);
    expect(await redis.client().zcard(keys().rejectedStatBatches())).to.equal(0);
  });
});

describe('stats scripts: each stays in one hash slot', () => {
  // MONITOR: one server sees every script run
  const redis = usePrivateRedis({ standalone: true });
  let c: Coordinator;
  before(() => { c = coordinatorOn(redis, { REGISTRY_SHARDS: '8', NODE_ID: 'coord-s' }); });

  it('buffer, claim, renew, commit, reject, finish and give up touch one slot per script run', async () => {
    expect(slotOf('123456789')).to.equal(12739); // the CRC16 check value Redis documents
    const groups: string[][] = [];
    let current: string[] | null = null;
    let clientCalls = 0;
    const monitorConn = new Redis(redis.server.url);
    await monitorConn.ping(); // connected first: its own ready check must not reach the monitor mid-handshake
    const monitor = await monitorConn.monitor();
    monitor.on('monitor', (_t: string, args: string[], source: string) => {
      if (source !== 'lua') { current = null; clientCalls++; return; }
      if (args[0].toLowerCase() === 'time') return;
      if (!current) { current = []; groups.push(current); }
      current.push(args[1]);
    });

    const rooms = Array.from({ length: 16 }, (_, i) => new Room({ sid: `RM_slot${i}`, name: `slot-${i}` }));
    const node = ids.node();
    for (const r of rooms) {
      const p = new ParticipantInfo({ sid: `PA_${r.sid}`, identity: 'x' });
      await c.service.participantJoined({ room: r, participant: p, shouldSendEvent: false, guard: 'g', nodeId: node });
      const k = { streamType: 'UPSTREAM' as const, participantId: p.sid, trackId: 'TR_1', track: true };
      await Promise.all([c.stats.add(r.sid, k, JSON.parse(good(1)), good(1)), c.stats.add(r.sid, { ...k, trackId: 'TR_2' }, { score: 'x' } as never, '{"score":"x"}')]);
    }
    // one shard's batch is claimed and left to lapse as if its flush had failed many times
    const shard = c.registry.keys.shardOf(rooms[0].sid);
    const stuck = await c.stats.claim(shard, 'SB_stuck', 1, 1);
    await redis.client().hset(c.registry.keys.inflightClaims(shard), stuck!.id, 99);
    await c.service.flushStats();
    expect((await rejectedStats(redis.client(), c.registry.keys)).map((d) => d.reason)).to.include('flush failed 99 times');

    const ping = await redis.client().ping();
    await until(() => clientCalls > 10 && ping === 'PONG', 'MONITOR to catch up');
    monitor.disconnect();
    monitorConn.disconnect();
    expect(groups.length).to.be.greaterThan(16);
    for (const keys of groups) expect(new Set(keys.map(slotOf)).size, `one script touched ${keys.join(', ')}`).to.equal(1);
  });
});

describe('stats: a batch whose flush keeps failing', () => {
  const redis = usePrivateRedis();
  const sink = new FlakyAnalytics(); // down until told otherwise
  let c: Coordinator;
  before(() => { c = coordinatorOn(redis, { REGISTRY_SHARDS: '2', NODE_ID: 'coord-f' }, { analytics: sink, flush: { leaseMs: 50 } }); });

  it('is moved whole to the dead-letter stream after 5 failed flushes, and leaves inflight', async () => {
    const r = ids.roomInfo('fail');
    const people = Array.from({ length: 3 }, (_, i) => ids.participantInfo(`f${i + 1}`));
    const node = ids.node();
    for (const p of people) await c.service.participantJoined({ room: r, participant: p, shouldSendEvent: false, guard: 'g', nodeId: node });
    const shard = c.registry.keys.shardOf(r.sid);
    const jsons = people.map((_, i) => good(i + 1));
    await Promise.all(people.map((p, i) => c.stats.add(r.sid, { streamType: 'UPSTREAM', participantId: p.sid, trackId: 'TR_x', track: true }, JSON.parse(jsons[i]), jsons[i])));

    let failures = 0;
    await until(async () => {
      await c.flusher.flushShard(shard).catch(() => { failures++; });
      return (await redis.client().zcard(c.registry.keys.inflight(shard))) === 0;
    }, 'the failing batch to leave inflight');
    expect(failures).to.equal(5);

    const dead = await rejectedStats(redis.client(), c.registry.keys);
    expect(dead.map((d) => [d.participantId, d.trackId, d.kind, d.data, d.reason]).sort()).to.deep.equal(
      people.map((p, i) => [p.sid, 'TR_x', 'UPSTREAM', jsons[i], 'flush failed 5 times']).sort());
    expect(new Set(dead.map((d) => d.batchId)).size).to.equal(1);
    expect(await redis.keys(`${c.registry.keys.shardBase(shard)}batch:*`)).to.deep.equal([]);
    expect(await redis.client().zcard(c.registry.keys.rejectedStatBatches())).to.equal(0);

    // the sink is back: later stats flush as usual
    sink.failing = false;
    await c.stats.add(r.sid, { streamType: 'UPSTREAM', participantId: people[0].sid, trackId: 'TR_y', track: true }, JSON.parse(good(3)), good(3));
    await c.flusher.flushShard(shard);
    expect(sink.allStats().map((s) => s.trackId)).to.deep.equal(['TR_y']);
  });
});
