import { createHash } from 'node:crypto';
import { expect } from 'chai';
import Redis from 'ioredis';
import { AnalyticsStat } from '@livekit/protocol';
import { WorkerRegistry } from '../../lib/registry/registry';
import { KeySpace } from '../../lib/redis/keys';
import { SCRIPT_NAMES, scriptSources } from '../../lib/redis/scripts';
import { RedisStreamsAnalytics } from '../../lib/telemetry/analytics-streams';
import { EventClaims } from '../../lib/telemetry/event-claims';
import { StatsBuffer } from '../../lib/telemetry/stats-buffer';
import type { AnalyticsStatJson } from '../../lib/telemetry/types';
import { StatsFlusher, FLUSH_DEFAULTS } from '../../lib/telemetry/stats-flush';
import { joined, useDeliveries } from '../support/deliveries';
import { ids } from '../support/fixture';
import { TestReceiver } from '../support/receiver';
import { hashTagOf, until, usePrivateRedis } from '../support/redis';

/** One script run as MONITOR saw it: the keys its caller declared, and the keys its commands touched. */
interface Run {
  name: string;
  declared: string[];
  touched: string[];
}

/**
 * Redis Cluster runs a script only if the keys it declares share one hash slot, and checks
 * only those: a key a script builds for itself is not checked before it runs, so a slot
 * migration would fail the script half way, after its first writes. MONITOR reports each
 * EVALSHA / EVAL with its keys, then the commands the script ran (source "lua"), together;
 * so each of our scripts is checked to touch only keys it declared, all of one hash tag.
 * Every script of lua/ is run, so a new one cannot escape the check.
 */
describe('every script declares every key it touches, all in one hash slot', () => {
  const redis = usePrivateRedis({ standalone: true }); // MONITOR: one server sees every script run
  const keys = new KeySpace('tc', 16);
  const deliveries = useDeliveries(redis, keys);
  const rx = new TestReceiver();
  before(() => rx.start());
  after(() => rx.stop());

  it('runs every script of lua/, each touching only keys among its KEYS, of one hash tag', async () => {
    const byHash = new Map<string, string>();
    const byText = new Map<string, string>();
    // MONITOR escapes an EVAL's source, so it is recognised by its text less punctuation
    const bare = (text: string) => text.replace(/\\[nrt]|[^A-Za-z0-9]/g, '');
    for (const s of scriptSources()) {
      byHash.set(createHash('sha1').update(s.lua).digest('hex'), s.name);
      byText.set(bare(s.lua), s.name);
    }
    const runs: Run[] = [];
    let current: Run | null = null;
    let done = false;
    const monitorConn = new Redis(redis.server.url);
    const monitor = await monitorConn.monitor();
    monitor.on('monitor', (_t: string, args: string[], source: string) => {
      const verb = args[0].toLowerCase();
      if (source === 'lua') {
        // BullMQ's own scripts (current null) are not ours to check
        if (current && verb !== 'time') current.touched.push(args[1]);
        return;
      }
      current = null;
      if (verb === 'echo' && args[1] === 'hash-slots-done') done = true;
      if (verb !== 'evalsha' && verb !== 'eval') return;
      const name = verb === 'eval' ? byText.get(bare(args[1])) : byHash.get(args[1]);
      if (!name) return;
      const numkeys = Number(args[2]);
      current = { name, declared: args.slice(3, 3 + numkeys), touched: [] };
      runs.push(current);
    });

    // the registry: every transition, a node's expiry and departure, leaves, the reap
    const client = redis.client();
    const reg = new WorkerRegistry(client, { prefix: keys.prefix, shards: keys.shards });
    const refs = Array.from({ length: 64 }, (_, i) => ({ roomId: `RM_${i}`, participantId: `PA_${i}` }));
    const [nodeA, nodeB] = [ids.node('a'), ids.node('b')];
    await reg.heartbeat(nodeA);
    await reg.heartbeat(nodeB);
    for (const ref of refs) {
      await reg.open({ ...ref, roomName: 'r', identity: 'i', guard: 'g1', nodeId: nodeA, connect: true });
      await reg.open({ ...ref, roomName: 'r', identity: 'i', guard: 'g2', nodeId: nodeB });
      await reg.open({ ...ref, roomName: 'r', identity: 'i', guard: 'g2', nodeId: nodeA }); // the guard moves node
      await reg.markConnected(ref);
      await reg.release({ ...ref, guard: 'g2', raiseLeave: true });
      await reg.open({ ...ref, roomName: 'r', identity: 'i', guard: 'g3', nodeId: nodeB });
    }
    const leaves = (await Promise.all(Array.from({ length: keys.shards }, (_, s) => reg.pendingLeaves(s, 0)))).flat();
    expect(leaves).to.have.length(64);
    for (const l of leaves) await reg.ackLeave(l);
    await reg.departNode(nodeB);
    const lapsed = (await reg.lapsedNodes(0)).filter((n) => n.nodeId === nodeA || n.nodeId === nodeB);
    const orphans = (await Promise.all(lapsed.map((n) => reg.expireNode(n)))).flat();
    expect(orphans).to.have.length(64);

    // stats: buffered, claimed, committed, one dead-lettered, finished
    const stats = new StatsBuffer(client, keys);
    const flusher = new StatsFlusher(stats, new RedisStreamsAnalytics(client, keys, 'coord-1', 1000), { ...FLUSH_DEFAULTS, workersPerBatch: 5 });
    const stat = new AnalyticsStat({ roomId: 'x', participantId: 'y' });
    await Promise.all(refs.slice(0, 16).map((ref, i) => stats.add(
      ref.roomId, { streamType: 'UPSTREAM', participantId: ref.participantId, trackId: 'TR_1', track: true }, stat.toJson() as AnalyticsStatJson,
      i === 0 ? '{"streams":"not a list"}' : stat.toJsonString())));
    let sent = 0;
    let rejected = 0;
    for (let s = 0; s < keys.shards; s++) {
      const t = await flusher.flush(s);
      sent += t.sent;
      rejected += t.rejected;
    }
    expect({ sent, rejected }).to.deep.equal({ sent: 15, rejected: 1 });

    let reaped = 0;
    for (let shard = 0; shard < keys.shards; shard++) {
      for (const due of await reg.dueForReaping(shard, 0)) if (await reg.reap(due, 0, due.generation)) reaped++;
    }
    expect(reaped).to.equal(64);

    // event ids: claimed, renewed while applied, settled
    const claims = new EventClaims(client, keys, { windowMs: 60_000, leaseMs: 300, waitMs: 1000 });
    expect(await claims.claim(nodeA, ['e1', 'e2'], 't1')).to.deep.equal([true, true]);
    await claims.holding(nodeA, ['e1', 'e2'], 't1', () => until(() => runs.some((r) => r.name === 'settleEvents'), 'a renewal'));
    await claims.done(nodeA, ['e1'], 't1');
    await claims.release(nodeA, ['e2'], 't1');

    // webhooks: a lane queued and moved on as its head is delivered
    const d = await deliveries.make([rx.url]);
    await d.queueNotify(joined('slots', 'alice'));
    await d.queueNotify(joined('slots', 'bob'));
    await until(() => rx.received.filter((e) => e.room?.name === 'slots').length === 2, 'both webhooks delivered');
    // what the runs settle with their URL goes a few ms after they end
    await until(() => runs.some((r) => r.name === 'settleWebhookRuns'), 'the runs settled with their URL');

    // the breaker takes an attempt back only while a URL is paused, and records a URL's outcomes
    // itself only when an attempt failed: run here so their keys are checked too
    await client.refundWebhookAttempt(keys.webhookLane('slots-lane').run, 'run.slots-lane.x', 'token', 'head');
    const url = keys.webhookUrl('slots-url');
    await client.recordWebhookOutcome(url.status, url.latency, url.probe, url.held, 300_000, 60_000, 100, '500', 'HTTP 500', 'run.slots-lane.x', 12);
    // a replay of the URL's dead letters takes, renews and ends its lease
    for (const mode of ['take', 'renew', 'end']) await client.leaseWebhookReplay(url.replay, mode, 'RP_slots', 30_000);
    // a job's run takes and gives back its URL's slot alone (the inline runs above share theirs)
    const limits = keys.webhookUrlLimits('slots-url');
    for (const mode of ['enter', 'leave']) {
      await client.limitWebhookUrl(limits.leases, limits.rate, limits.waiting, limits.reserved, mode, 'run.slots-lane.y', 4, 0, 1, 1000, 25, 'run.slots-lane.y:t', 0);
    }

    await client.echo('hash-slots-done');
    try {
      await until(() => done, 'MONITOR to report every script');
    } finally {
      monitor.disconnect();
      monitorConn.disconnect();
    }

    const ran = new Set(runs.map((r) => r.name));
    expect(SCRIPT_NAMES.filter((name) => !ran.has(name)), 'scripts not run').to.deep.equal([]);
    const tags = new Set<string>();
    for (const run of runs) {
      const declared = new Set(run.declared);
      const undeclared = run.touched.filter((k) => !declared.has(k));
      expect(undeclared, `${run.name} touched keys it did not declare (KEYS: ${run.declared.join(', ')})`).to.deep.equal([]);
      const runTags = new Set(run.declared.map(hashTagOf));
      expect(runTags.size, `${run.name} declared keys of several hash tags: ${run.declared.join(', ')}`).to.equal(1);
      tags.add([...runTags][0]);
    }
    expect(runs.length).to.be.greaterThan(64 * 6);
    expect([...tags].filter((t) => /^s\d+$/.test(t)).length).to.be.greaterThan(8); // the rooms really spread over shards
  });
});
