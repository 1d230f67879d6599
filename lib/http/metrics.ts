import client from 'prom-client';
import type { Coordinator } from '../coordinator';
import { registerPeriodicMetrics } from '../jobs/metrics';
import type { BackgroundJobs } from './background-jobs';

/** 5 ms .. 10 min: a delivery waits its lane's turn, and a failing URL's retries back off for minutes. */
const WEBHOOK_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600];

/** The metrics of the node's background work: webhook delivery (below) and the periodic jobs (lib/jobs/metrics.ts). */
export function registerJobMetrics(register: client.Registry, coordinator: Coordinator): void {
  const webhooks = () => coordinator.webhooks?.metrics;
  new client.Gauge({ name: 'tc_webhook_deliveries_total', help: 'Webhooks delivered by this node', registers: [register], collect() { this.set(webhooks()?.delivered ?? 0); } });
  new client.Gauge({ name: 'tc_webhook_failed_attempts_total', help: 'Webhook attempts that failed on this node', registers: [register], collect() { this.set(webhooks()?.failedAttempts ?? 0); } });
  new client.Gauge({ name: 'tc_webhook_retries_total', help: 'Webhook attempts retried by this node', registers: [register], collect() { this.set(webhooks()?.retries ?? 0); } });
  new client.Gauge({ name: 'tc_webhook_dead_letters_total', help: 'Webhooks given up by this node', registers: [register], collect() { this.set(webhooks()?.deadLetters ?? 0); } });
  new client.Gauge({ name: 'tc_webhook_probes_total', help: 'Probes this node sent to webhook URLs paused by the circuit breaker', registers: [register], collect() { this.set(webhooks()?.probes ?? 0); } });
  new client.Gauge({
    name: 'tc_webhook_paused_urls', help: 'Webhook URLs paused by the circuit breaker (fleet)', registers: [register],
    async collect() { this.set(coordinator.webhooks ? await coordinator.webhooks.operations.pausedUrls() : 0); },
  });
  new client.Gauge({
    name: 'tc_webhook_limit_holds_total', help: 'Webhook runs this node held for their URL\'s limits (WEBHOOK_MAX_IN_FLIGHT, WEBHOOK_RATE_LIMIT)', labelNames: ['reason'], registers: [register],
    collect() {
      const h = webhooks()?.limitHolds;
      this.set({ reason: 'in_flight' }, h?.inFlight ?? 0);
      this.set({ reason: 'rate' }, h?.rate ?? 0);
    },
  });
  new client.Gauge({
    name: 'tc_webhook_inline_runs_total', help: 'Webhook runs this node sent in-process, without a BullMQ job', registers: [register],
    collect() { this.set(webhooks()?.inline.started ?? 0); },
  });
  new client.Gauge({
    name: 'tc_webhook_runs_handed_on_total', help: 'Webhook runs this node handed to a BullMQ job (wait: a retry or a limit; yield: time used or stopping; busy: no room; lapsed: a dead node\'s)', labelNames: ['reason'], registers: [register],
    collect() {
      for (const [reason, n] of Object.entries(webhooks()?.inline.handedOn ?? {})) this.set({ reason }, n);
    },
  });
  new client.Gauge({ name: 'tc_webhook_expired_total', help: 'Webhooks given up by this node for being older than WEBHOOK_MAX_AGE (in dead letters too)', registers: [register], collect() { this.set(webhooks()?.expired ?? 0); } });
  const webhookLatency = new client.Histogram({
    name: 'tc_webhook_latency_seconds', help: 'Enqueue-to-delivery latency of webhooks delivered by this node', buckets: WEBHOOK_SECONDS, registers: [register],
  });
  coordinator.webhooks?.metrics.onDelivery((ms) => webhookLatency.observe(ms / 1000));

  registerPeriodicMetrics(register, coordinator.periodic);
}

/**
 * The node's Prometheus metrics. Counts of this node are counters; fleet state (open and
 * closed workers, SFU node leases, queue depths) is read from Redis at scrape time, from
 * counts and indexes only: a scrape costs a few commands per shard, never a walk over the
 * workers.
 */
export class NodeMetrics {
  readonly registry = new client.Registry();
  readonly events: client.Counter<'method'>;
  readonly httpErrors: client.Counter<'status'>;
  private readonly jobs: BackgroundJobs | null;

  /** `jobs`: the node's background work runs elsewhere (its thread) and reports its own metrics. */
  constructor(coordinator: Coordinator, jobs?: BackgroundJobs) {
    const register = this.registry;
    client.collectDefaultMetrics({ register });
    this.events = new client.Counter({ name: 'tc_events_total', help: 'Telemetry events applied, by method', labelNames: ['method'], registers: [register] });
    this.httpErrors = new client.Counter({
      name: 'tc_http_errors_total', help: 'API requests answered with an error, by status (4xx: refused, nothing applied; 503: retry; 500: a fault of ours)',
      labelNames: ['status'], registers: [register],
    });
    if (!jobs) registerJobMetrics(register, coordinator);
    this.jobs = jobs ?? null;

    // a scrape collects every metric at once: both worker gauges share one read, so open +
    // closed add up to the workers that read counted
    let reading: ReturnType<typeof coordinator.registry.counts> | null = null;
    const workerCounts = () => {
      reading ??= coordinator.registry.counts().finally(() => { reading = null; });
      return reading;
    };
    new client.Gauge({
      name: 'tc_open_workers', help: 'Stats workers open (fleet)', registers: [register],
      async collect() { this.set((await workerCounts()).open); },
    });
    new client.Gauge({
      name: 'tc_closed_workers', help: 'Stats workers closed, not yet reaped (fleet)', registers: [register],
      async collect() { this.set((await workerCounts()).closed); },
    });
    const keys = coordinator.registry.keys;
    new client.Gauge({
      name: 'tc_sfu_node_leases', help: 'SFU nodes holding a lease (fleet)', registers: [register],
      async collect() { this.set(await coordinator.redis.zcard(keys.nodesSeen())); },
    });
    new client.Gauge({
      name: 'tc_queue_jobs', help: 'BullMQ jobs by queue and state (fleet)', labelNames: ['queue', 'state'], registers: [register],
      async collect() {
        // by kind of work, summed over the queue shards
        for (const kind of [coordinator.periodic.queues, ...(coordinator.webhooks ? [coordinator.webhooks.queues] : [])]) {
          const sum: Record<string, number> = {};
          for (const q of kind.queues) {
            for (const [state, n] of Object.entries(await q.getJobCounts('waiting', 'active', 'delayed', 'failed'))) sum[state] = (sum[state] ?? 0) + n;
          }
          for (const [state, n] of Object.entries(sum)) this.set({ queue: kind.kind, state }, n);
        }
      },
    });
  }

  /** The Prometheus text of a scrape, with the background work's metrics when it runs elsewhere. */
  async text(): Promise<string> {
    if (!this.jobs) return this.registry.metrics();
    const [mine, theirs] = await Promise.all([this.registry.getMetricsAsJSON(), this.jobs.metricsJson()]);
    return client.AggregatorRegistry.aggregate([mine, theirs]).metrics();
  }
}
