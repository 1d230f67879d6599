import { ParticipantInfo, Room } from '@livekit/protocol';
import { expect } from 'chai';
import type { FastifyInstance } from 'fastify';
import { loadOptions } from '../../lib/config/options';
import { Coordinator } from '../../lib/coordinator';
import { buildServer } from '../../lib/http/server';
import { createLogger } from '../../lib/log';
import { loadWebhookOptions } from '../../lib/config/webhooks';
import { ids } from '../support/fixture';
import { API_KEY, API_SECRET, TestReceiver } from '../support/receiver';
import { until, usePrivateRedis } from '../support/redis';

/** One sample of an unlabelled metric in Prometheus text. */
function sample(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`${name} is not in the scrape`);
  return Number(m[1]);
}

/**
 * GET /metrics of one in-process coordinator node: fleet worker gauges read from the
 * shard counts, and the node's own flush, reap, node expiry and webhook observations,
 * made as its periodic jobs and webhook delivery run.
 */
describe('GET /metrics (in-process node, private redis-server)', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  const rx = new TestReceiver();
  let c: Coordinator;
  let app: FastifyInstance;
  const room = new Room({ sid: 'RM_metrics', name: 'metrics' });
  const who = (n: number) => new ParticipantInfo({ sid: `PA_${n}`, identity: `p${n}` });
  const scrape = async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).to.equal(200);
    return res.body;
  };

  before(async () => {
    await rx.start();
    c = new Coordinator({
      redis: redis.target,
      options: loadOptions({ REGISTRY_SHARDS: '4', NODE_ID: 'metrics-node', FLUSH_INTERVAL: '250ms', WORKER_CLEANUP_WAIT: '0ms', NODE_LEASE: '1s' }),
      log: createLogger('silent'),
      webhooks: loadWebhookOptions({ WEBHOOK_URLS: rx.url, API_KEY, API_SECRET }),
    });
    app = buildServer(c, { apiKey: API_KEY, apiSecret: API_SECRET, maxBodyBytes: 1 << 20 }, createLogger('silent'));
  });
  redis.cleanups.push(async () => {
    await app.close();
    await c.close();
    await rx.stop();
  });

  it('reports open and closed workers, then the jobs that flush, reap, expire and deliver', async () => {
    // before the periodic work and delivery start: only the registry's transitions count
    const s = c.service;
    // two SFU nodes: one stays, the other's lease lapses once the periodic work runs
    const node = ids.node();
    const gone = ids.node('gone');
    await c.registry.heartbeat(gone);
    await s.roomStarted({ room });
    await s.participantJoined({ room, participant: who(1), shouldSendEvent: false, guard: 'g1', nodeId: node });
    await s.participantJoined({ room, participant: who(2), shouldSendEvent: false, guard: 'g2', nodeId: node });
    await s.participantLeft({ room, participant: who(2), shouldSendEvent: false, guard: 'g2' });
    await s.participantJoined({ room, participant: who(3), shouldSendEvent: false, guard: 'g3', nodeId: gone });
    await s.participantJoined({ room, participant: who(4), shouldSendEvent: false, guard: 'g4', nodeId: node });
    await s.participantLeft({ room, participant: who(4), shouldSendEvent: false, guard: 'g4' });
    await s.participantJoined({ room, participant: who(4), shouldSendEvent: false, guard: 'g4b', nodeId: node }); // re-opened

    let m = await scrape();
    expect({
      open: sample(m, 'tc_open_workers'), closed: sample(m, 'tc_closed_workers'), leases: sample(m, 'tc_sfu_node_leases'),
      flushes: sample(m, 'tc_flush_duration_seconds_count'), reaps: sample(m, 'tc_reap_duration_seconds_count'),
      reaped: sample(m, 'tc_workers_reaped_total'), expiries: sample(m, 'tc_node_expiries_total'),
      webhooks: sample(m, 'tc_webhook_latency_seconds_count'),
    }).to.deep.equal({ open: 3, closed: 1, leases: 1, flushes: 0, reaps: 0, reaped: 0, expiries: 0, webhooks: 0 });
    expect(m).to.match(/^tc_flush_duration_seconds_bucket\{le="0.001"\} 0$/m);
    expect(m).to.match(/^tc_reap_duration_seconds_bucket\{le="30"\} 0$/m);
    expect(m).to.not.include('tc_webhook_latency_ms');

    // the closed worker is reaped; the gone node's lease lapses, its worker closes and is reaped too;
    // room_started and that worker's leave are delivered
    await c.start();
    m = await until(async () => {
      const text = await scrape();
      const done = sample(text, 'tc_workers_reaped_total') >= 2 && sample(text, 'tc_node_expiries_total') >= 1
        && sample(text, 'tc_webhook_latency_seconds_count') >= 2;
      return done ? text : null;
    }, 'the reap, the node expiry and two deliveries', 30_000);
    expect({
      open: sample(m, 'tc_open_workers'), closed: sample(m, 'tc_closed_workers'), leases: sample(m, 'tc_sfu_node_leases'),
      reaped: sample(m, 'tc_workers_reaped_total'), expiries: sample(m, 'tc_node_expiries_total'),
      webhooks: sample(m, 'tc_webhook_latency_seconds_count'), delivered: sample(m, 'tc_webhook_deliveries_total'),
    }).to.deep.equal({ open: 2, closed: 0, leases: 0, reaped: 2, expiries: 1, webhooks: 2, delivered: 2 });
    expect(sample(m, 'tc_flush_duration_seconds_count')).to.be.greaterThan(0);
    expect(sample(m, 'tc_reap_duration_seconds_count')).to.be.greaterThan(0);
    expect(sample(m, 'tc_flush_duration_seconds_sum')).to.be.greaterThan(0);
    expect(sample(m, 'tc_webhook_latency_seconds_sum')).to.be.greaterThan(0);
    // PA_3 never became active: its leave is reported as an aborted connection
    expect(rx.received.map((e) => `${e.event} ${e.participant?.sid ?? ''}`).sort())
      .to.deep.equal(['participant_connection_aborted PA_3', 'room_started ']);

    // the gauges are the registry's counts, which the worker hashes really stored bear out
    expect(await c.registry.counts()).to.deep.equal({ workers: 2, closed: 0, open: 2 });
    expect(await redis.keys(`${c.registry.keys.prefix}:*:w:*`, c.redis)).to.have.length(2);
  });
});
