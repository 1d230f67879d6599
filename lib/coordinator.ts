import type { Logger } from 'pino';
import { logConnectionErrors } from './log';
import type { Options } from './config/options';
import { PeriodicWork, PERIODIC_DEFAULTS, type PeriodicOptions } from './jobs/periodic';
import { agreeOnQueueShards, QueueShards } from './jobs/queue-shards';
import { createRedis, type RedisClient, type RedisTarget } from './redis/connection';
import { WorkerRegistry } from './registry/registry';
import type { AnalyticsSink } from './telemetry/analytics';
import { RedisStreamsAnalytics } from './telemetry/analytics-streams';
import { BatchApplier } from './telemetry/batch';
import { EVENT_CLAIM_DEFAULTS, EventClaims } from './telemetry/event-claims';
import { ReplicaWait } from './telemetry/replica-wait';
import { RedisTelemetryService } from './telemetry/service';
import type { CallLimits } from './telemetry/validate';
import { StatsBuffer } from './telemetry/stats-buffer';
import { FLUSH_DEFAULTS, StatsFlusher, type FlushOptions } from './telemetry/stats-flush';
import { WebhookDelivery } from './webhooks/delivery';
import { NullNotifier, type WebhookNotifier } from './telemetry/notifier';
import type { WebhookOptions } from './webhooks/options';

export interface CoordinatorParts {
  /** A redis:// URL, or a master behind Sentinel. */
  redis: RedisTarget;
  options: Options;
  log: Logger;
  /** Where webhooks go; default: delivery on BullMQ when `webhooks` has URLs, else none. */
  notifier?: WebhookNotifier;
  webhooks?: WebhookOptions;
  /** Defaults to the Redis Streams sink. */
  analytics?: AnalyticsSink;
  flush?: Partial<FlushOptions>;
  periodic?: Partial<Pick<PeriodicOptions, 'concurrency' | 'lockDurationMs' | 'leaveSweepAgeMs'>>;
}

/** One coordinator node's pieces, wired: the library's entry point and `npm start`'s. */
export class Coordinator {
  readonly redis: RedisClient;
  readonly registry: WorkerRegistry;
  readonly stats: StatsBuffer;
  readonly flusher: StatsFlusher;
  readonly analytics: AnalyticsSink;
  readonly service: RedisTelemetryService;
  /** What a call may carry (metadata size), beyond its protobuf types. */
  readonly limits: CallLimits;
  /** Applies SFU nodes' batches: in order, each event id once. */
  readonly batches: BatchApplier;
  /** REDIS_WAIT_REPLICAS: what confirms a batch is on the replicas before it is acknowledged. */
  readonly replicaWait: ReplicaWait | null = null;
  readonly periodic: PeriodicWork;
  /** The BullMQ queues each kind of work is spread over (QUEUE_SHARDS). */
  readonly queueShards: QueueShards;
  readonly notifier: WebhookNotifier;
  /** This node's webhook delivery, when webhook URLs are configured. */
  readonly webhooks: WebhookDelivery | null = null;

  constructor(parts: CoordinatorParts) {
    const { options, log } = parts;
    this.redis = createRedis(parts.redis);
    this.redis.on('error', logConnectionErrors(log, 'redis'));
    this.registry = new WorkerRegistry(this.redis, { prefix: options.redisPrefix, shards: options.registryShards });
    const keys = this.registry.keys;
    // "auto" is resolved by `npm start` before a Coordinator is made (agreeOnQueueShards); here it is one queue
    this.queueShards = new QueueShards(options.redisPrefix, options.queueShards || 1);
    if (!parts.notifier && parts.webhooks && parts.webhooks.urls.length > 0) {
      this.webhooks = new WebhookDelivery(this.redis, parts.redis, keys, parts.webhooks, log, this.queueShards);
    }
    this.notifier = parts.notifier ?? this.webhooks ?? new NullNotifier();
    this.stats = new StatsBuffer(this.redis, keys);
    this.analytics = parts.analytics ?? new RedisStreamsAnalytics(this.redis, keys, options.coordinatorId, options.analyticsMaxLen);
    this.flusher = new StatsFlusher(this.stats, this.analytics, { ...FLUSH_DEFAULTS, rejectedMaxLen: options.analyticsMaxLen, ...parts.flush });
    this.service = new RedisTelemetryService({
      registry: this.registry, stats: this.stats, flusher: this.flusher, notifier: this.notifier, analytics: this.analytics, log,
      limits: (this.limits = { maxMetadataBytes: options.maxMetadataBytes }),
    });
    const claims = new EventClaims(this.redis, keys, { ...EVENT_CLAIM_DEFAULTS, windowMs: options.idempotencyWindowMs });
    if (options.redisWaitReplicas > 0) {
      this.replicaWait = new ReplicaWait(parts.redis, {
        replicas: options.redisWaitReplicas, timeoutMs: options.redisWaitTimeoutMs, prefix: options.redisPrefix, coordinatorId: options.coordinatorId,
      }, log);
    }
    this.batches = new BatchApplier(this.service, this.registry, claims, this.replicaWait ?? undefined);
    this.periodic = new PeriodicWork({
      redis: parts.redis, queueShards: this.queueShards, flushIntervalMs: options.flushIntervalMs, workerCleanupWaitMs: options.workerCleanupWaitMs,
      nodeLeaseMs: options.nodeLeaseMs, ...PERIODIC_DEFAULTS, ...parts.periodic,
    }, keys, this.registry, this.flusher, this.service, log);
  }

  /** Connects, without running the background work: it runs elsewhere (`npm start` gives it a thread). */
  async connect(): Promise<void> {
    await this.redis.ping();
    // the fleet's nodes must read the same queues (QueueShardsMismatch if they would not)
    await agreeOnQueueShards(this.redis, this.registry.keys.prefix, this.queueShards.count);
  }

  /** Starts the periodic work (flush, reap, node expiry) and webhook delivery on this node. */
  async start(): Promise<void> {
    await this.connect();
    await this.periodic.start();
    await this.webhooks?.start();
  }

  async close(): Promise<void> {
    await this.webhooks?.close();
    await this.periodic.close();
    await this.replicaWait?.close();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
