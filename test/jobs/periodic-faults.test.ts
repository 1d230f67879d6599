import { ParticipantInfo, Room } from '@livekit/protocol';
import { expect } from 'chai';
import client from 'prom-client';
import { loadOptions } from '../../lib/config/options';
import { Coordinator } from '../../lib/coordinator';
import { registerJobMetrics } from '../../lib/http/metrics';
import { PERIODIC_DEFAULTS, PeriodicWork, type JobDone } from '../../lib/jobs/periodic';
import { createLogger } from '../../lib/log';
import { WorkerRegistry } from '../../lib/registry/registry';
import type { LapsedNode, OrphanedWorker } from '../../lib/registry/types';
import { FlakyAnalytics, RecordingNotifier } from '../support/fakes';
import { ids } from '../support/fixture';
import { until, usePrivateRedis } from '../support/redis';
import { coordinatorOn } from '../support/telemetry';

const goodStat = (bytes: number) => JSON.stringify({ score: 4, streams: [{ primaryBytes: String(bytes), primaryPackets: 1 }] });

describe('periodic jobs: a failing flush holds up neither the leave sweep nor the reap', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  const notifier = new RecordingNotifier();
  let c: Coordinator;
  before(() => {
    c = coordinatorOn(redis, { REGISTRY_SHARDS: '2', NODE_ID: 'coord-ff', FLUSH_INTERVAL: '100ms', WORKER_CLEANUP_WAIT: '0ms' }, {
      notifier, analytics: new FlakyAnalytics(), // stats writes always fail; events go through
      // a lease of 0: the failing batch is handed out again to every flush, so every flush fails
      flush: { leaseMs: 0, maxTries: 1_000_000 },
      periodic: { leaveSweepAgeMs: 0 },
    });
  });

  it('the shard whose flush throws still has its due worker reaped and its pending leave relayed; the jobs still fail', async () => {
    const room = new Room({ sid: 'RM_ff', name: 'ff' });
    const leaving = new ParticipantInfo({ sid: 'PA_leaving', identity: 'leaving' });
    const staying = new ParticipantInfo({ sid: 'PA_staying', identity: 'staying' });
    const node = ids.node();
    for (const p of [leaving, staying]) {
      await c.service.participantActive({ room, participant: p, isMigration: false, guard: `g-${p.sid}`, nodeId: node });
    }
    await c.stats.add(room.sid, { streamType: 'UPSTREAM', participantId: staying.sid, trackId: 'TR_1', track: true }, JSON.parse(goodStat(1)), goodStat(1));
    // the leave is decided and recorded, and the node relaying it dies: only the sweep can relay it
    const r = await c.registry.release({
      roomId: room.sid, participantId: leaving.sid, guard: `g-${leaving.sid}`, raiseLeave: true,
      info: leaving.toJsonString(), room: room.toJsonString(),
    });
    expect(r).to.deep.include({ closed: true, leaveId: `${room.sid}|${leaving.sid}|${r.generation}` });
    notifier.clear();

    await c.start();
    await until(async () => (await c.registry.get({ roomId: room.sid, participantId: leaving.sid })) === null, 'the closed worker to be reaped');
    await until(() => notifier.events.some((e) => e.event === 'participant_left' && e.participant?.sid === leaving.sid), 'the leave to be relayed');
    expect((await c.registry.get({ roomId: room.sid, participantId: staying.sid }))?.closedAt).to.equal(null);
    // the flush's failure is not swallowed: the shard jobs fail, so BullMQ retries them and shows them
    const failed = await until(async () => (await c.periodic.queue.getJobs(['failed', 'delayed', 'wait', 'active']))
      .filter((j) => (j.name === 'flush-shard' || j.name === 'reap-shard') && /analytics down/.test(j.failedReason ?? '')), 'a failed shard job');
    expect(failed.length).to.be.greaterThan(0);
  });
});

describe('periodic jobs: rejected stats are reported', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  let c: Coordinator;
  const registry = new client.Registry();
  const done: JobDone[] = [];
  before(() => {
    c = coordinatorOn(redis, { REGISTRY_SHARDS: '2', NODE_ID: 'coord-rj', FLUSH_INTERVAL: '100ms' });
    registerJobMetrics(registry, c);
    c.periodic.onJobDone((d) => done.push(d));
  });

  it('as JobDone.rejected of the shard jobs and as tc_stats_rejected_total', async () => {
    const room = new Room({ sid: 'RM_rj', name: 'rj' });
    const p = new ParticipantInfo({ sid: 'PA_rj', identity: 'rj' });
    await c.service.participantJoined({ room, participant: p, shouldSendEvent: false, guard: 'g', nodeId: ids.node() });
    const bad = ['{"score":"x"}', '{"streams":[{"rtt":-1}]}'];
    await Promise.all([
      ...bad.map((j, i) => c.stats.add(room.sid, { streamType: 'UPSTREAM', participantId: p.sid, trackId: `TR_bad${i}`, track: true }, JSON.parse(j), j)),
      c.stats.add(room.sid, { streamType: 'UPSTREAM', participantId: p.sid, trackId: 'TR_ok', track: true }, JSON.parse(goodStat(3)), goodStat(3)),
    ]);
    await c.start();
    const total = async () => (await registry.getSingleMetric('tc_stats_rejected_total')?.get())?.values[0]?.value ?? 0;
    await until(async () => (await total()) >= 2, 'tc_stats_rejected_total to count the two');
    expect(await total()).to.equal(2);
    const reported = done.filter((d) => d.job === 'flush-shard' || d.job === 'reap-shard')
      .reduce((sum, d) => sum + ((d as { rejected?: number }).rejected ?? 0), 0);
    expect(reported).to.equal(2);
    expect(await registry.getSingleMetricAsString('tc_stats_rejected_total')).to.match(/^# HELP tc_stats_rejected_total /);
  });
});

/** A registry whose node expiry fails while `failing` is set. */
class FlakyRegistry extends WorkerRegistry {
  failing = true;
  calls = 0;
  override async expireNode(node: LapsedNode): Promise<OrphanedWorker[]> {
    this.calls++;
    if (this.failing) throw new Error('expiry failed');
    return super.expireNode(node);
  }
}

describe('periodic jobs: a node expiry that failed all its attempts', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  let c: Coordinator;
  let flaky: FlakyRegistry;
  let work: PeriodicWork;
  before(() => {
    const options = loadOptions({ REGISTRY_SHARDS: '2', NODE_ID: 'coord-ex', NODE_LEASE: '1s' });
    c = new Coordinator({ redis: redis.target, options, log: createLogger('silent'), notifier: new RecordingNotifier() });
    flaky = new FlakyRegistry(c.redis, { prefix: options.redisPrefix, shards: options.registryShards });
    work = new PeriodicWork({
      redis: redis.target, flushIntervalMs: 60_000, workerCleanupWaitMs: 60_000, nodeLeaseMs: options.nodeLeaseMs,
      ...PERIODIC_DEFAULTS, jobAttempts: 2, jobBackoffMs: 50,
    }, flaky.keys, flaky, c.flusher, c.service, createLogger('silent'));
  });
  redis.cleanups.push(async () => {
    await work.close();
    await c.close();
  });

  it('does not block the next expiry of that node: its guards are released', async () => {
    const ref = { roomId: 'RM_ex', participantId: 'PA_ex' };
    const node = ids.node('lapsing');
    await flaky.heartbeat(node);
    await flaky.open({ ...ref, roomName: 'ex', identity: 'ex', guard: 'g', nodeId: node, connect: true });
    await work.start();
    // the lease lapses, and the expiry of the node fails every attempt
    await until(async () => (await work.queue.getFailed()).some((j) => j.name === 'expire-node' && j.data.nodeId === node),
      'the expiry to fail all its attempts', 30_000);
    expect((await flaky.get(ref))?.closedAt).to.equal(null);
    const failedCalls = flaky.calls;
    flaky.failing = false;
    // a later tick finds the node still lapsed, with the same last-seen time: its expiry runs
    await until(async () => (await flaky.get(ref))?.closedAt, 'the guard of the lapsed node to be released');
    expect(flaky.calls).to.be.greaterThan(failedCalls);
    expect((await flaky.get(ref))!.guards).to.deep.equal([]);
    await until(async () => (await redis.client().zscore(flaky.keys.nodesSeen(), node)) === null, 'the node to be forgotten');
  });
});
