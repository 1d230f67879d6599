import { expect } from 'chai';
import { AnalyticsStat } from '@livekit/protocol';
import { Cluster } from 'ioredis';
import type { RedisClient } from '../../lib/redis/connection';
import { KeySpace } from '../../lib/redis/keys';
import { LocalCluster } from '../../lib/redis/local-cluster';
import { loadScripts } from '../../lib/redis/scripts';
import { WorkerRegistry } from '../../lib/registry/registry';
import { RedisStreamsAnalytics } from '../../lib/telemetry/analytics-streams';
import { EventClaims } from '../../lib/telemetry/event-claims';
import { StatsBuffer } from '../../lib/telemetry/stats-buffer';
import { FLUSH_DEFAULTS, StatsFlusher } from '../../lib/telemetry/stats-flush';
import type { AnalyticsStatJson } from '../../lib/telemetry/types';
import { ids } from '../support/fixture';
import { analyticsStats } from '../support/streams';

/**
 * The registry, the stats buffer and flush, and event claims on a real Redis Cluster (3
 * masters, 3 replicas): every script and every pipeline or transaction of theirs must name
 * keys of one slot, or the cluster refuses it (CROSSSLOT); the shards' slots sit on every
 * master, so calls really go to several nodes.
 */
describe('registry, stats and event claims on a Redis Cluster', function () {
  this.timeout(120_000);
  let cluster: LocalCluster;
  let client: RedisClient;
  const keys = new KeySpace('tc', 16);

  before(async () => {
    cluster = await LocalCluster.start();
    const c = new Cluster(cluster.startupNodes, { enableAutoPipelining: true });
    loadScripts(c);
    client = c as unknown as RedisClient;
  });
  after(async () => {
    await client?.quit().catch(() => client.disconnect());
    await cluster?.stop();
  });

  const masterOf = async (key: string) => {
    const slot = Number(await client.call('CLUSTER', 'KEYSLOT', key));
    return cluster.masters.findIndex((m) => m.slots.some(([a, b]) => slot >= a && slot <= b));
  };

  it('spreads the shards over every master', async () => {
    const masters = new Set<number>();
    for (let s = 0; s < keys.shards; s++) masters.add(await masterOf(keys.workers(s)));
    expect([...masters].sort()).to.deep.equal([0, 1, 2]);
  });

  it('opens, counts, releases, expires a node, relays leaves and reaps workers', async () => {
    const reg = new WorkerRegistry(client, { prefix: keys.prefix, shards: keys.shards });
    const refs = Array.from({ length: 48 }, (_, i) => ({ roomId: `RM_c${i % 12}`, participantId: `PA_c${i}` }));
    const [nodeA, nodeB] = [ids.node('a'), ids.node('b')];
    await reg.heartbeat(nodeA);
    await reg.heartbeat(nodeB);
    const opened = await Promise.all(refs.map((ref) => reg.open({ ...ref, roomName: 'room', identity: ref.participantId, guard: 'sig-a', nodeId: nodeA, connect: true })));
    expect(opened.every((r) => r.outcome === 'created' && r.refCount === 1)).to.equal(true);

    // a batch touches every shard: one pipeline per shard, each to its own slot
    const batch = reg.batch();
    const second = refs.map((ref) => batch.open({ ...ref, roomName: 'room', identity: ref.participantId, guard: 'sig-b', nodeId: nodeB }));
    await batch.exec();
    expect((await Promise.all(second)).map((r) => r.refCount)).to.deep.equal(refs.map(() => 2));
    expect(await reg.counts()).to.deep.equal({ workers: 48, closed: 0, open: 48 });

    // the first 16 leave; the rest are closed by their nodes going away
    const released = await Promise.all(refs.slice(0, 16).map((ref) => reg.release({ ...ref, guard: 'sig-a', raiseLeave: true })));
    expect(released.every((r) => r.found && r.wasConnected && !r.closed && r.leaveId !== null)).to.equal(true);
    const departed = await reg.departNode(nodeB);
    expect(departed.map((o) => o.participantId).sort()).to.deep.equal(refs.slice(0, 16).map((r) => r.participantId).sort());
    const lapsed = (await reg.lapsedNodes(0)).filter((n) => n.nodeId === nodeA);
    expect(lapsed).to.have.length(1);
    const orphans = await reg.expireNode(lapsed[0]);
    expect(orphans.map((o) => o.participantId).sort()).to.deep.equal(refs.slice(16).map((r) => r.participantId).sort());
    expect(orphans.every((o) => o.leave !== null && o.wasConnected)).to.equal(true);
    expect(await reg.counts()).to.deep.equal({ workers: 48, closed: 48, open: 0 });

    let pending = 0;
    for (let s = 0; s < keys.shards; s++) {
      const leaves = await reg.pendingLeaves(s, 0);
      pending += leaves.length;
      await Promise.all(leaves.map((l) => reg.ackLeave(l)));
      expect(await reg.pendingLeaves(s, 0)).to.deep.equal([]);
    }
    expect(pending).to.equal(48);

    let reaped = 0;
    for (let s = 0; s < keys.shards; s++) {
      const b = reg.batch();
      const results = (await reg.dueForReaping(s, 0)).map((due) => b.reap(due, 0, due.generation));
      await b.exec();
      reaped += (await Promise.all(results)).filter(Boolean).length;
    }
    expect(reaped).to.equal(48);
    expect(await reg.counts()).to.deep.equal({ workers: 0, closed: 0, open: 0 });
    for (let s = 0; s < keys.shards; s++) {
      expect(await client.scard(keys.nodeGuards(s, nodeA)), `node A's index of shard ${s}`).to.equal(0);
      expect(await client.scard(keys.nodeGuards(s, nodeB)), `node B's index of shard ${s}`).to.equal(0);
    }
  });

  it('buffers stats, counts traffic and flushes every stat once to the analytics stream', async () => {
    const reg = new WorkerRegistry(client, { prefix: keys.prefix, shards: keys.shards });
    const refs = Array.from({ length: 30 }, (_, i) => ({ roomId: `RM_s${i % 10}`, participantId: `PA_s${i}` }));
    await Promise.all(refs.map((ref) => reg.open({ ...ref, roomName: `room-${ref.roomId}`, identity: 'x', guard: 'g', nodeId: ids.node() })));
    const stats = new StatsBuffer(client, keys);
    const flusher = new StatsFlusher(stats, new RedisStreamsAnalytics(client, keys, 'coord-c', 100_000), { ...FLUSH_DEFAULTS, workersPerBatch: 4 });
    const before = (await stats.counters())['in:bytes'] ?? 0;
    const stat = (bytes: number) => new AnalyticsStat({ streams: [{ primaryBytes: BigInt(bytes), primaryPackets: 1 }] });
    // two tracks a worker, two stats a track (coalesced into one), one stat of a room with no worker (dropped)
    const adds: Promise<void>[] = [];
    for (const ref of refs) {
      for (const track of ['TR_1', 'TR_2']) {
        for (const bytes of [10, 20]) {
          const s = stat(bytes);
          adds.push(stats.add(ref.roomId, { streamType: 'UPSTREAM', participantId: ref.participantId, trackId: track, track: true }, s.toJson() as AnalyticsStatJson, s.toJsonString()));
        }
      }
    }
    const s = stat(5);
    adds.push(stats.add('RM_none', { streamType: 'UPSTREAM', participantId: 'PA_none', trackId: 'TR_1', track: true }, s.toJson() as AnalyticsStatJson, s.toJsonString()));
    await Promise.all(adds);
    expect((await stats.counters())['in:bytes'] - before).to.equal(30 * 2 * 30 + 5);

    const streamBefore = await client.xlen(keys.analyticsStream('stats'));
    const tallies = await Promise.all(Array.from({ length: keys.shards }, (_, shard) => flusher.flush(shard)));
    expect(tallies.reduce((n, t) => n + t.sent, 0)).to.equal(60);
    expect(tallies.reduce((n, t) => n + t.rejected, 0)).to.equal(0);
    const flushed = (await analyticsStats(client, keys)).slice(streamBefore);
    expect(flushed).to.have.length(60);
    expect(new Set(flushed.map((f) => `${f.participantId}/${f.trackId}`)).size).to.equal(60);
    expect(flushed.every((f) => Number(f.streams[0].primaryBytes) === 30 && f.roomName === `room-${f.roomId}`)).to.equal(true);
    for (let shard = 0; shard < keys.shards; shard++) {
      expect(await client.scard(keys.dirty(shard))).to.equal(0);
      expect(await client.zcard(keys.inflight(shard))).to.equal(0);
    }
  });

  it('claims event ids once, waits for a live claim, and settles them', async () => {
    const claims = new EventClaims(client, keys, { windowMs: 60_000, leaseMs: 2000, waitMs: 300 });
    const node = ids.node();
    expect(await claims.claim(node, ['e1', 'e2'], 'req-1')).to.deep.equal([true, true]);
    await claims.claim(node, ['e2', 'e3'], 'req-2').then(() => expect.fail('a live claim must make the copy wait'), (e: Error) => expect(e.name).to.equal('RetryableError'));
    await claims.done(node, ['e1', 'e2'], 'req-1');
    expect(await claims.claim(node, ['e1', 'e2', 'e3'], 'req-3')).to.deep.equal([false, false, true]);
    await claims.release(node, ['e3'], 'req-3');
    expect(await claims.claim(node, ['e3'], 'req-4')).to.deep.equal([true]);
  });
});
