import { WebhookEvent } from '@livekit/protocol';
import type { RedisClient } from '../redis/connection';
import type { KeySpace } from '../redis/keys';
import type { Attempt } from './attempt';
import { Batcher } from './batcher';
import { httpPost } from './http-post';
import { LocalSlots, leaseMs } from './local-slots';
import type { WebhookOptions } from './options';
import { signWebhookSync } from './signing';
import { UrlStatus } from './url-status';
import { webhookUrlTag } from './url-tag';

export { describeAttempt, isFinal, succeeded, type Attempt } from './attempt';
export { webhookUrlTag } from './url-tag';

const USER_AGENT = 'telemetry-coordinator-webhooks/0.1';

/** An event queued to one URL, as its lane keeps it. */
export interface LaneEvent {
  lane: string;
  url: string;
  /** The WebhookEvent's protobuf JSON, as queued. */
  event: string;
  enqueuedAt: number;
  /** When the event was made (ms): its createdAt, or when it was queued if it came without one. */
  createdAtMs?: number;
}



/**
 * One webhook URL, as this node sends to it: signing and POSTing, its count of dead letters
 * not yet reported (numDropped), the fleet's view of it in Redis (status: breaker, latencies,
 * lanes with work, inline runs, dead letters) and this node's slots of it (per-URL limits).
 * What a node keeps per URL lives here.
 */
export class Receiver {
  readonly droppedKey: string;
  readonly status: UrlStatus;
  readonly slots = new LocalSlots();
  private readonly limitKeys: ReturnType<KeySpace['webhookUrlLimits']>;

  constructor(readonly url: string, private readonly redis: RedisClient, keys: KeySpace, private readonly opts: WebhookOptions) {
    this.droppedKey = keys.webhookDropped(webhookUrlTag(url));
    this.status = new UrlStatus(url, redis, keys, opts);
    this.limitKeys = keys.webhookUrlLimits(webhookUrlTag(url));
  }

  /**
   * Takes ('take': true if taken) or gives back ('give': the runs waiting that may go now) a
   * slot of the URL's WEBHOOK_MAX_IN_FLIGHT, with the node's other runs doing the same at
   * this moment: one call to Redis for them all.
   */
  shareSlot(mode: 'take', lease: string): Promise<boolean>;
  shareSlot(mode: 'give', lease: string): Promise<string[]>;
  shareSlot(mode: 'take' | 'give', lease: string): Promise<boolean | string[]> {
    return mode === 'take' ? this.takes.add(lease) : this.gives.add(lease);
  }

  private readonly takes = new Batcher<string, boolean>(async (leases) => {
    const k = this.limitKeys;
    const taken = (await this.redis.shareWebhookSlots(k.leases, k.waiting, 'take', this.opts.maxInFlight, leaseMs(this.opts.timeoutMs), ...leases)) as number[];
    return leases.map((_, i) => taken[i] === 1);
  });

  private readonly gives = new Batcher<string, string[]>(async (leases) => {
    const k = this.limitKeys;
    const waiters = (await this.redis.shareWebhookSlots(k.leases, k.waiting, 'give', this.opts.maxInFlight, leaseMs(this.opts.timeoutMs), ...leases)) as string[];
    // the waiters go to the first giver to promote: one promotion each
    return leases.map((_, i) => (i === 0 ? waiters.map(String) : []));
  });

  /**
   * Takes the URL's dead letters not yet reported, to report them. Taken, not read: lanes of
   * one URL deliver side by side, and each dead letter must be reported once (a node dying
   * before its POST ends loses the count: under-reported rather than reported twice).
   */
  async takeDropped(): Promise<number> {
    return Number((await this.redis.getdel(this.droppedKey)) ?? 0);
  }

  /** Dead letters taken and not reported after all (or new ones): a later delivery reports them. */
  async putBackDropped(count: number): Promise<void> {
    if (count > 0) await this.redis.incrby(this.droppedKey, count);
  }

  /** One attempt: the event signed now, with `numDropped` set when there is a count to report. */
  async post(event: LaneEvent, numDropped: number): Promise<Attempt> {
    let body = event.event;
    if (numDropped > 0) {
      const ev = WebhookEvent.fromJsonString(body, { ignoreUnknownFields: true });
      ev.numDropped = numDropped;
      body = ev.toJsonString();
    }
    try {
      const status = await httpPost(this.url, body, {
        'Content-Type': 'application/webhook+json',
        Authorization: signWebhookSync(body, this.opts.apiKey, this.opts.apiSecret),
        'User-Agent': USER_AGENT,
      }, this.opts.timeoutMs);
      return { status, error: '' };
    } catch (e) {
      return { status: 0, error: (e as Error).message };
    }
  }
}

/** This node's Receiver of each URL. */
export class Receivers {
  private readonly byUrl = new Map<string, Receiver>();

  constructor(private readonly redis: RedisClient, private readonly keys: KeySpace, private readonly opts: WebhookOptions) {}

  of(url: string): Receiver {
    let r = this.byUrl.get(url);
    if (!r) {
      r = new Receiver(url, this.redis, this.keys, this.opts);
      this.byUrl.set(url, r);
    }
    return r;
  }
}
