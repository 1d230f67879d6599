import { createHash } from 'node:crypto';
import { WebhookEvent } from '@livekit/protocol';
import { DelayedError, UnrecoverableError, type Job, type Queue } from 'bullmq';
import type { Logger } from 'pino';
import { BullQueues } from '../jobs/bull-queues';
import { QueueShards } from '../jobs/queue-shards';
import type { RedisClient, RedisTarget } from '../redis/connection';
import type { KeySpace } from '../redis/keys';
import { newId } from '../ids';
import { eventKey } from './event-key';
import { httpPost } from './http-post';
import { WebhookMetrics } from './metrics';
import type { WebhookNotifier } from './notifier';
import { wantsEvent, type WebhookOptions } from './options';
import { signWebhook } from './signing';

export const WEBHOOK_QUEUE = 'webhooks';
const USER_AGENT = 'telemetry-coordinator-webhooks/0.1';

/** One delivery: an event to one URL. The BullMQ job id is '<event id>.<url index>'. */
export interface DeliveryJob {
  lane: string;
  url: string;
  /** The WebhookEvent's protobuf JSON, as queued. */
  event: string;
  enqueuedAt: number;
  /** It was given up (dead letter): a retry from the dashboard sends it out of turn. */
  deadLettered?: boolean;
}

/** An HTTP answer that is final at once: a 4xx other than 408 and 429. */
function isFinal(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

const sha = (s: string, n: number) => createHash('sha1').update(s).digest('hex').slice(0, n);

/** The lane of one (URL, event key): its id in KeySpace.webhookLane. */
export function webhookLaneId(url: string, key: string): string {
  return sha(`${url}\n${key}`, 20);
}

/** A URL's tag in KeySpace.webhookDropped. */
export function webhookUrlTag(url: string): string {
  return sha(url, 12);
}

/**
 * Durable, ordered, signed webhook delivery on BullMQ.
 *
 * Each (URL, event key) is a *lane*: a FIFO of job ids in Redis. Every delivery is a
 * BullMQ job, but only the lane's head delivers; the others wait as delayed jobs and the
 * head, once delivered or given up, wakes the next. A failing head is retried with
 * exponential backoff and holds up only its own lane; after its last attempt it is kept
 * in BullMQ's failed set (a dead letter) and counted into the next delivery's
 * `numDropped` for that URL. A head BullMQ fails by itself (stalled too often) is found by
 * the events waiting behind it, which pass it and count it the same way.
 *
 * With several queue shards (QUEUE_SHARDS), each lane's jobs live in one of them, picked by
 * the lane's id, so a cluster's masters share the deliveries.
 */
export class WebhookDelivery implements WebhookNotifier {
  readonly queues: BullQueues<DeliveryJob>;
  readonly metrics = new WebhookMetrics();

  constructor(
    private readonly redis: RedisClient,
    target: RedisTarget,
    private readonly keys: KeySpace,
    private readonly opts: WebhookOptions,
    private readonly log: Logger,
    shards: QueueShards = new QueueShards(keys.prefix, 1),
  ) {
    this.queues = new BullQueues<DeliveryJob>(WEBHOOK_QUEUE, shards, target, log);
  }

  /** The queue of queue shard 0 (the only one on a single Redis). */
  get queue(): Queue<DeliveryJob> {
    return this.queues.queue(0);
  }

  /** The queue holding a lane's jobs. */
  queueOf(laneId: string): Queue<DeliveryJob> {
    return this.queues.queue(this.queues.shards.shardOfName(laneId));
  }

  private jobOptions(jobId: string, delay: number) {
    return {
      jobId, delay, attempts: this.opts.maxAttempts, backoff: { type: 'capped' },
      removeOnComplete: { age: 3600, count: 10_000 }, removeOnFail: { age: 7 * 86400, count: 50_000 },
    };
  }

  async queueNotify(event: WebhookEvent): Promise<void> {
    if (!wantsEvent(this.opts, event.event)) return;
    if (!event.id) event.id = newId('EV_');
    if (!event.createdAt) event.createdAt = BigInt(Math.floor(Date.now() / 1000));
    if (this.opts.urls.length === 0) return;
    const body = event.toJsonString();
    const key = eventKey(event);
    await Promise.all(this.opts.urls.map((url, i) => this.enqueue(`${event.id}.${i}`, { lane: webhookLaneId(url, key), url, event: body, enqueuedAt: Date.now() })));
  }

  private async enqueue(jobId: string, data: DeliveryJob): Promise<void> {
    const lane = this.keys.webhookLane(data.lane);
    const position = (await this.redis.enqueueWebhook(lane.fifo, lane.events, lane.seen, jobId, JSON.stringify(data), this.opts.dedupeWindowMs)) as number;
    if (position === -1) {
      // queued before: make sure its job exists (the first enqueue may have died before adding it)
      const stored = await this.redis.hget(lane.events, jobId);
      if (stored) await this.queueOf(data.lane).add('deliver', JSON.parse(stored), this.jobOptions(jobId, this.opts.parkMs));
      return;
    }
    await this.queueOf(data.lane).add('deliver', data, this.jobOptions(jobId, position === 0 ? 0 : this.opts.parkMs));
    // the event ahead may have been delivered before this job existed to be woken
    if (position > 0 && (await this.redis.lindex(lane.fifo, 0)) === jobId) await this.wake(jobId, data.lane);
  }

  /** Starts delivering on this node. */
  async start(opts: { concurrency?: number; lockDurationMs?: number } = {}): Promise<void> {
    const lockDuration = opts.lockDurationMs ?? 30_000;
    this.queues.start((job, token) => this.process(job, token), {
      concurrency: opts.concurrency ?? 100,
      lockDuration,
      stalledInterval: Math.max(500, Math.floor(lockDuration / 2)),
      settings: {
        backoffStrategy: (attemptsMade: number) => Math.min(this.opts.maxBackoffMs, this.opts.baseBackoffMs * 2 ** Math.max(0, attemptsMade - 1)),
      },
    });
  }

  get running(): boolean {
    return this.queues.running;
  }

  /** Wakes a waiting job whose turn came; re-makes it from the lane if it was lost. */
  private async wake(jobId: string, laneId: string): Promise<void> {
    const job = await this.queueOf(laneId).getJob(jobId);
    if (job) {
      await job.promote().catch(() => undefined); // not delayed (already running or waiting): nothing to do
      return;
    }
    const stored = await this.redis.hget(this.keys.webhookLane(laneId).events, jobId);
    if (stored) await this.queueOf(laneId).add('deliver', JSON.parse(stored), this.jobOptions(jobId, 0));
  }

  /**
   * Takes `jobId` out of its lane if it is still the head, and wakes the next event (not
   * `self`, which is running). `advanced` is true for the one call that took it out.
   */
  private async leaveLane(laneId: string, jobId: string, self?: string): Promise<{ advanced: boolean; next: string | null }> {
    const lane = this.keys.webhookLane(laneId);
    const [advanced, next] = (await this.redis.advanceWebhookLane(lane.fifo, lane.events, jobId)) as [number, string?];
    // a call that moved nothing wakes nobody: the head it would wake may be waiting out a retry's backoff
    if (advanced === 1 && next && next !== self) await this.wake(next, laneId);
    return { advanced: advanced === 1, next: next ?? null };
  }

  private async advance(job: Job<DeliveryJob>): Promise<void> {
    await this.leaveLane(job.data.lane, job.id!);
  }

  /**
   * Frees a lane whose head will never move it on by itself: a head whose job is lost is
   * re-made; one BullMQ has finished is passed. BullMQ fails a job that stalled too often
   * without running our processor, so its give-up never ran: it is counted as a dead letter
   * here, once, by the node whose call took it out of the lane. (A finished head is also
   * what a node leaves behind if it dies between marking a dead letter and advancing.)
   * Returns whether `self` is now the head.
   */
  private async unblockLane(head: string, self: Job<DeliveryJob>): Promise<boolean> {
    const headJob = await this.queueOf(self.data.lane).getJob(head);
    if (!headJob) {
      await this.wake(head, self.data.lane);
      return false;
    }
    const state = await headJob.getState();
    if (state !== 'failed' && state !== 'completed') return false;
    const { advanced, next } = await this.leaveLane(self.data.lane, head, self.id);
    if (advanced && state === 'failed' && !headJob.data.deadLettered) {
      this.metrics.deadLetters++;
      await this.redis.incr(this.keys.webhookDropped(webhookUrlTag(headJob.data.url)));
      // so a retry from the dashboard sends it out of turn; if this is lost, that retry does nothing
      await headJob.updateData({ ...headJob.data, deadLettered: true }).catch(() => undefined);
      this.log.warn({ jobId: head, url: headJob.data.url, reason: headJob.failedReason }, 'webhook failed by BullMQ (dead letter)');
    }
    return next === self.id;
  }

  private async process(job: Job<DeliveryJob>, token?: string): Promise<string> {
    const d = job.data;
    if (d.deadLettered) {
      // a dead letter retried by hand: its turn has passed, send it as it is
      const status = await this.post(d, 0);
      if (status < 200 || status >= 300) throw new Error(`HTTP ${status}`);
      this.metrics.recordDelivery(Date.now() - d.enqueuedAt);
      return 'delivered (retried dead letter)';
    }
    const lane = this.keys.webhookLane(d.lane);
    const head = await this.redis.lindex(lane.fifo, 0);
    if (head !== job.id) {
      if (head === null || (await this.redis.lpos(lane.fifo, job.id!)) === null) return 'already delivered';
      // not its turn: make sure the head can run or is passed, then wait to be woken (or to look again)
      if (!(await this.unblockLane(head, job))) {
        await job.moveToDelayed(Date.now() + this.opts.parkMs, token);
        throw new DelayedError();
      }
    }

    const droppedKey = this.keys.webhookDropped(webhookUrlTag(d.url));
    // taken, not read: lanes of one URL deliver side by side, and each must report a dead
    // letter only once (a node dying before the POST ends loses the count: under-reported
    // rather than reported twice)
    const dropped = Number((await this.redis.getdel(droppedKey)) ?? 0);
    let status = 0;
    let error = '';
    try {
      status = await this.post(d, dropped);
    } catch (e) {
      error = (e as Error).message;
    }
    if (status >= 200 && status < 300) {
      this.metrics.recordDelivery(Date.now() - d.enqueuedAt);
      await this.advance(job);
      return `delivered: HTTP ${status}`;
    }
    this.metrics.failedAttempts++;
    const reason = status ? `HTTP ${status} from ${d.url}` : `${error} (${d.url})`;
    const final = (status > 0 && isFinal(status)) || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    if (!final) {
      this.metrics.retries++;
      // not reported after all: the next delivery to this URL reports it
      if (dropped > 0) await this.redis.incrby(droppedKey, dropped);
      throw new Error(reason);
    }
    // given up: kept as a dead letter, counted for numDropped (with the count it took), and the lane goes on
    this.metrics.deadLetters++;
    await this.redis.incrby(droppedKey, dropped + 1);
    await job.updateData({ ...d, deadLettered: true });
    await this.advance(job);
    this.log.warn({ jobId: job.id, url: d.url, status, reason }, 'webhook given up (dead letter)');
    throw status > 0 && isFinal(status) ? new UnrecoverableError(reason) : new Error(reason);
  }

  private async post(d: DeliveryJob, numDropped: number): Promise<number> {
    let body = d.event;
    if (numDropped > 0) {
      const ev = WebhookEvent.fromJsonString(body, { ignoreUnknownFields: true });
      ev.numDropped = numDropped;
      body = ev.toJsonString();
    }
    return httpPost(d.url, body, {
      'Content-Type': 'application/webhook+json',
      Authorization: await signWebhook(body, this.opts.apiKey, this.opts.apiSecret),
      'User-Agent': USER_AGENT,
    }, this.opts.timeoutMs);
  }

  async close(): Promise<void> {
    await this.queues.close();
  }
}
