import client from 'prom-client';
import type { Coordinator } from '../coordinator';
import { TELEMETRY_QUEUE } from '../jobs/periodic';

/**
 * The node's Prometheus metrics. Counts of this node are counters; fleet state (closed
 * workers, SFU node leases, queue depths) is read from Redis at scrape time, from the
 * indexes only: a scrape costs a few commands per shard, never a walk over the workers.
 */
export class NodeMetrics {
  readonly registry = new client.Registry();
  readonly events: client.Counter<'method'>;

  constructor(c: Coordinator) {
    const r = this.registry;
    client.collectDefaultMetrics({ register: r });
    this.events = new client.Counter({ name: 'tc_events_total', help: 'Telemetry events applied, by method', labelNames: ['method'], registers: [r] });
    const webhooks = () => c.webhooks?.metrics;
    new client.Gauge({ name: 'tc_webhook_deliveries_total', help: 'Webhooks delivered by this node', registers: [r], collect() { this.set(webhooks()?.delivered ?? 0); } });
    new client.Gauge({ name: 'tc_webhook_failed_attempts_total', help: 'Webhook attempts that failed on this node', registers: [r], collect() { this.set(webhooks()?.failedAttempts ?? 0); } });
    new client.Gauge({ name: 'tc_webhook_retries_total', help: 'Webhook attempts retried by this node', registers: [r], collect() { this.set(webhooks()?.retries ?? 0); } });
    new client.Gauge({ name: 'tc_webhook_dead_letters_total', help: 'Webhooks given up by this node', registers: [r], collect() { this.set(webhooks()?.deadLetters ?? 0); } });
    new client.Gauge({
      name: 'tc_webhook_latency_ms', help: 'Enqueue-to-delivery latency of recent webhooks (ms)', labelNames: ['quantile'], registers: [r],
      collect() {
        const m = webhooks();
        for (const q of [50, 90, 99]) this.set({ quantile: String(q / 100) }, m?.percentile(q) ?? 0);
      },
    });
    const keys = c.registry.keys;
    new client.Gauge({
      name: 'tc_closed_workers', help: 'Stats workers closed, not yet reaped (fleet)', registers: [r],
      async collect() {
        const p = c.redis.pipeline();
        for (let s = 0; s < keys.shards; s++) p.zcard(keys.closed(s));
        this.set(((await p.exec()) ?? []).reduce((sum, [, n]) => sum + Number(n), 0));
      },
    });
    new client.Gauge({
      name: 'tc_sfu_node_leases', help: 'SFU nodes holding a lease (fleet)', registers: [r],
      async collect() { this.set(await c.redis.zcard(keys.nodesSeen())); },
    });
    new client.Gauge({
      name: 'tc_queue_jobs', help: 'BullMQ jobs by queue and state (fleet)', labelNames: ['queue', 'state'], registers: [r],
      async collect() {
        const queues: [string, { getJobCounts(...s: string[]): Promise<Record<string, number>> }][] = [[TELEMETRY_QUEUE, c.periodic.queue]];
        if (c.webhooks) queues.push(['webhooks', c.webhooks.queue]);
        for (const [name, q] of queues) {
          const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'failed');
          for (const [state, n] of Object.entries(counts)) this.set({ queue: name, state }, n);
        }
      },
    });
  }
}
