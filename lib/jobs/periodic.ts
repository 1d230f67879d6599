import type { Job, Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { RedisTarget } from '../redis/connection';
import type { KeySpace } from '../redis/keys';
import { raisedLeaves, type WorkerRegistry } from '../registry/registry';
import type { RedisTelemetryService } from '../telemetry/service';
import type { StatsFlusher } from '../telemetry/stats-flush';
import { BullQueues } from './bull-queues';
import { QueueShards } from './queue-shards';

export const TELEMETRY_QUEUE = 'telemetry';

export interface PeriodicOptions {
  redis: RedisTarget;
  /** The queue shards (QUEUE_SHARDS) the jobs are spread over; default: one queue. */
  queueShards?: QueueShards;
  flushIntervalMs: number;
  workerCleanupWaitMs: number;
  nodeLeaseMs: number;
  /** Jobs of each queue shard one node runs at once. */
  concurrency: number;
  /** BullMQ lock: a node silent this long loses its job to another (stalled-job recovery). */
  lockDurationMs: number;
  /** A leave still in the outbox this long after it was recorded is relayed by the sweep. */
  leaveSweepAgeMs: number;
  /** Attempts of a shard or node job (default 5), retried with exponential backoff from `jobBackoffMs` (default 500). */
  jobAttempts?: number;
  jobBackoffMs?: number;
}

export const PERIODIC_DEFAULTS = { concurrency: 8, lockDurationMs: 30_000, leaveSweepAgeMs: 30_000 };

/**
 * A shard or node job this node ran, for the metrics exporter (which PeriodicWork does not
 * know). A shard job whose steps did not all succeed is reported too, `failed` set, with the
 * work its other steps did (it then fails, and BullMQ retries it).
 */
export type JobDone =
  | { job: 'flush-shard'; seconds: number; sent: number; rejected: number; relayed: number; failed: boolean }
  | { job: 'reap-shard'; seconds: number; reaped: number; rejected: number; failed: boolean }
  | { job: 'expire-node'; seconds: number; closed: number; relayed: number };

const secondsSince = (started: number) => (performance.now() - started) / 1000;

/**
 * The fleet's periodic work on BullMQ job schedulers, so each run is done by one node:
 *
 *   flush         every FLUSH_INTERVAL    -> one flush-shard job per shard
 *   reap          every FLUSH_INTERVAL    -> one reap-shard job per shard (flush it, then reap what is due)
 *   expire-nodes  every NODE_LEASE / 4    -> one expire-node job per lapsed SFU node
 *
 * With several queue shards, each queue shard has its own flush and reap schedulers, for
 * the registry shards mapped to it, so a tick and the jobs it adds stay in one hash slot
 * and the masters of a cluster share the work; node expiry runs on queue shard 0.
 *
 * A tick only fans out; the shard and node jobs are taken by whichever nodes are free, so
 * a large flush is shared, and a node that dies mid-job leaves it to another. A shard job's
 * steps each run even when the flush before them fails: the job fails afterwards, and is
 * retried.
 */
export class PeriodicWork {
  readonly queues: BullQueues;
  private readonly jobDone: ((done: JobDone) => void)[] = [];

  constructor(
    private readonly opts: PeriodicOptions,
    private readonly keys: KeySpace,
    private readonly registry: WorkerRegistry,
    private readonly flusher: StatsFlusher,
    private readonly service: RedisTelemetryService,
    private readonly log: Logger,
  ) {
    this.queues = new BullQueues(TELEMETRY_QUEUE, opts.queueShards ?? new QueueShards(keys.prefix, 1), opts.redis, log);
  }

  /** The queue of queue shard 0 (the only one on a single Redis): node expiry runs there. */
  get queue(): Queue {
    return this.queues.queue(0);
  }

  /** Declares the schedulers (idempotent: every node does it) and starts taking jobs. */
  async start(): Promise<void> {
    const o = this.opts;
    const keep = { removeOnComplete: 100, removeOnFail: 500 };
    for (const queue of this.queues.queues) {
      await queue.upsertJobScheduler('flush', { every: o.flushIntervalMs }, { name: 'flush', opts: keep });
      await queue.upsertJobScheduler('reap', { every: o.flushIntervalMs }, { name: 'reap', opts: keep });
    }
    await this.queue.upsertJobScheduler('expire-nodes', { every: Math.max(250, Math.floor(o.nodeLeaseMs / 4)) }, { name: 'expire-nodes', opts: keep });
    const workers = this.queues.start((job, _token, shard) => this.process(job, shard), {
      concurrency: o.concurrency,
      lockDuration: o.lockDurationMs,
      stalledInterval: Math.max(1000, Math.floor(o.lockDurationMs / 2)),
      removeOnComplete: { count: 1000 },
      removeOnFail: { count: 5000 },
    });
    for (const w of workers) w.on('failed', (job, err) => this.log.warn({ job: job?.name, id: job?.id, err: err.message }, 'periodic job failed'));
  }

  /** Calls `listener` after each flush-shard, reap-shard and expire-node job this node completes. */
  onJobDone(listener: (done: JobDone) => void): void {
    this.jobDone.push(listener);
  }

  private report(done: JobDone): void {
    for (const listener of this.jobDone) {
      // the job's work is stored: a metrics fault must not fail it into a retry
      try { listener(done); } catch (err) { this.log.warn({ job: done.job, err: (err as Error).message }, 'job listener failed'); }
    }
  }

  get running(): boolean {
    return this.queues.running;
  }

  /** Options of the jobs a tick fans out: retried, and kept a while once done, to be seen. */
  private fannedOut() {
    return {
      attempts: this.opts.jobAttempts ?? 5, backoff: { type: 'exponential', delay: this.opts.jobBackoffMs ?? 500 },
      removeOnComplete: 1000, removeOnFail: 5000,
    };
  }

  /** A shard job's id comes from the tick's, so a retried tick adds nothing twice (each tick has its own). */
  private async fanOut(job: Job, name: 'flush-shard' | 'reap-shard', queueShard: number): Promise<void> {
    const shards = Array.from({ length: this.keys.shards }, (_, shard) => shard)
      .filter((shard) => this.queues.shards.shardOfRegistryShard(shard) === queueShard);
    await this.queues.queue(queueShard).addBulk(shards.map((shard) => ({
      name, data: { shard }, opts: { ...this.fannedOut(), jobId: `${name}-${job.id}-${shard}`.replace(/:/g, '_') },
    })));
  }

  /**
   * Runs a job's steps in order, each even if one before it failed (a flush that throws must
   * not hold up the shard's leave sweep or reap), and returns the first failure, for the job
   * to fail with once it has reported what the other steps did.
   */
  private async allSteps(job: Job, steps: [string, () => Promise<unknown>][]): Promise<Error | undefined> {
    let first: Error | undefined;
    for (const [step, run] of steps) {
      try {
        await run();
      } catch (err) {
        // the first failure is the job's, logged as it fails; later ones would go unseen
        if (first) this.log.warn({ job: job.name, id: job.id, step, err: (err as Error).message }, 'periodic job step failed');
        first ??= err as Error;
      }
    }
    return first;
  }

  /** The shard's workers due for reaping, reaped in one pipeline, each still its own script. */
  private async reap(shard: number): Promise<number> {
    const batch = this.registry.batch();
    const results = (await this.registry.dueForReaping(shard, this.opts.workerCleanupWaitMs))
      .map((due) => batch.reap(due, this.opts.workerCleanupWaitMs, due.generation));
    await batch.exec();
    return (await Promise.all(results)).filter(Boolean).length;
  }

  private async process(job: Job, queueShard: number): Promise<unknown> {
    switch (job.name) {
      case 'flush': return this.fanOut(job, 'flush-shard', queueShard);
      case 'reap': return this.fanOut(job, 'reap-shard', queueShard);
      case 'flush-shard': {
        const started = performance.now();
        const shard = job.data.shard as number;
        const tally = { sent: 0, rejected: 0 };
        let relayed = 0;
        const failure = await this.allSteps(job, [
          ['flush', () => this.flusher.flush(shard, tally)],
          ['leave sweep', async () => {
            relayed = await this.service.relayLeaves(await this.registry.pendingLeaves(shard, this.opts.leaveSweepAgeMs));
          }],
        ]);
        this.report({ job: 'flush-shard', seconds: secondsSince(started), ...tally, relayed, failed: failure !== undefined });
        if (failure) throw failure;
        return { ...tally, relayed };
      }
      case 'reap-shard': {
        const started = performance.now();
        const shard = job.data.shard as number;
        const tally = { sent: 0, rejected: 0 };
        let reaped = 0;
        const failure = await this.allSteps(job, [
          // their last stats go out before they do (a worker whose stats are still buffered is kept)
          ['flush', () => this.flusher.flush(shard, tally)],
          ['reap', async () => { reaped = await this.reap(shard); }],
        ]);
        this.report({ job: 'reap-shard', seconds: secondsSince(started), reaped, rejected: tally.rejected, failed: failure !== undefined });
        if (failure) throw failure;
        return { reaped };
      }
      case 'expire-nodes': {
        const lapsed = await this.registry.lapsedNodes(this.opts.nodeLeaseMs);
        // deduplicated, not a fixed job id: an id blocks every later add while its job is kept,
        // failed ones included, and the node's guards would never be released; a
        // deduplication id only holds while its job waits, is delayed (between attempts) or runs
        await this.queue.addBulk(lapsed.map((node) => ({
          name: 'expire-node', data: node, opts: { ...this.fannedOut(), deduplication: { id: `expire-node-${node.nodeId}-${node.lastSeen}` } },
        })));
        return { lapsed: lapsed.length };
      }
      case 'expire-node': {
        const started = performance.now();
        const orphans = await this.registry.expireNode(job.data);
        const relayed = await this.service.relayLeaves(raisedLeaves(orphans));
        this.log.info({ nodeId: job.data.nodeId, released: orphans.length, relayed }, 'SFU node lease lapsed: connections released');
        this.report({ job: 'expire-node', seconds: secondsSince(started), closed: orphans.length, relayed });
        return { closed: orphans.length, relayed };
      }
      default:
        throw new Error(`unknown job ${job.name}`);
    }
  }

  /** Stops taking jobs; those running finish (or, past the lock, go to another node). */
  async close(): Promise<void> {
    await this.queues.close();
  }
}
