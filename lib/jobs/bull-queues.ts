import { Queue, Worker, type ConnectionOptions, type Job, type WorkerOptions } from 'bullmq';
import type { Logger } from 'pino';
import { logConnectionErrors } from '../log';
import { bullConnection, closeBullConnection, type RedisTarget } from '../redis/connection';
import type { QueueShards } from './queue-shards';

type Processor<Data> = (job: Job<Data>, token: string | undefined, shard: number) => Promise<unknown>;

/**
 * One kind of work's BullMQ queues, one per queue shard, and this node's workers on them.
 * Owns the connections it opens (a cluster's are clients BullMQ leaves open).
 */
export class BullQueues<Data = any> {
  readonly queues: Queue<Data>[];
  private readonly workers: Worker<Data>[] = [];
  private readonly connections: ConnectionOptions[] = [];

  constructor(
    readonly kind: string,
    readonly shards: QueueShards,
    private readonly target: RedisTarget,
    private readonly log: Logger,
  ) {
    this.queues = shards.all().map((k) => {
      // a queue adds jobs inside requests: it fails fast rather than hold a request through an outage
      const queue = new Queue<Data>(shards.name(kind, k), { connection: this.connect(false), prefix: shards.prefix(k) });
      queue.on('error', logConnectionErrors(log, `${queue.name} queue`));
      return queue;
    });
  }

  private connect(blocking: boolean): ConnectionOptions {
    const c = bullConnection(this.target, blocking);
    this.connections.push(c);
    return c;
  }

  /** The queue of shard `shard`. */
  queue(shard: number): Queue<Data> {
    return this.queues[shard];
  }

  /** Starts a worker on every shard's queue; `concurrency` is per shard. */
  start(processor: Processor<Data>, opts: Omit<WorkerOptions, 'connection' | 'prefix'>): Worker<Data>[] {
    for (const k of this.shards.all()) {
      const worker = new Worker<Data>(this.shards.name(this.kind, k), (job, token) => processor(job, token, k), {
        ...opts, connection: this.connect(true), prefix: this.shards.prefix(k),
      });
      worker.on('error', logConnectionErrors(this.log, `${worker.name} worker`));
      this.workers.push(worker);
    }
    return this.workers;
  }

  get running(): boolean {
    return this.workers.length > 0 && this.workers.every((w) => w.isRunning());
  }

  /** Stops taking jobs (those running finish first); the queues stay open for adding. */
  async closeWorkers(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }

  /** Stops taking jobs (those running finish first), then closes the queues and connections. */
  async close(): Promise<void> {
    await this.closeWorkers();
    await Promise.all(this.queues.map((q) => q.close()));
    await Promise.all(this.connections.map(closeBullConnection));
  }
}
