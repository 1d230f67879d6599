import { WebhookEvent } from '@livekit/protocol';
import type { RedisClient } from '../redis/connection';
import type { KeySpace } from '../redis/keys';
import { retryAfterMs, type Attempt } from './attempt';
import { httpPost } from './http-post';
import { LocalSlots } from './local-slots';
import type { WebhookOptions } from './options';
import { signWebhookSync } from './signing';
import { RunLedger } from './run-ledger';
import { UrlStatus } from './url-status';

export { describeAttempt, isFinal, succeeded, type Attempt } from './attempt';
export { webhookUrlTag } from '../webhook-url';

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
 * dead letters), its runs opening and settling (ledger: inline runs, lanes with work, slots,
 * latencies, batched) and this node's slots of it (per-URL limits).
 * What a node keeps per URL lives here.
 */
export class Receiver {
  readonly status: UrlStatus;
  readonly ledger: RunLedger;
  readonly slots = new LocalSlots();

  constructor(readonly url: string, redis: RedisClient, keys: KeySpace, private readonly opts: WebhookOptions) {
    this.status = new UrlStatus(url, redis, keys, opts);
    this.ledger = new RunLedger(url, redis, keys, opts);
  }

  /**
   * Takes the URL's dead letters not yet reported, to report them (see openWebhookRuns-4.lua),
   * with whatever else the node's runs ask of the URL at this moment.
   */
  async takeDropped(): Promise<number> {
    return (await this.ledger.open({ dropped: true })).dropped;
  }

  /** Dead letters taken and not reported after all (or new ones): a later delivery reports them. */
  async putBackDropped(count: number): Promise<void> {
    if (count > 0) await this.ledger.settle({ dropped: count });
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
      const { status, retryAfter } = await httpPost(this.url, body, {
        'Content-Type': 'application/webhook+json',
        Authorization: signWebhookSync(body, this.opts.apiKey, this.opts.apiSecret),
        'User-Agent': USER_AGENT,
      }, this.opts.timeoutMs);
      const wait = retryAfterMs(status, retryAfter);
      return wait === undefined ? { status, error: '' } : { status, error: '', retryAfterMs: wait };
    } catch (e) {
      return { status: 0, error: (e as Error).message };
    }
  }
}

/** This node's Receiver of each URL. */
export class Receivers {
  private readonly byUrl = new Map<string, Receiver>();

  constructor(private readonly redis: RedisClient, private readonly keys: KeySpace, private readonly opts: WebhookOptions) {}

  /** What this node's runs left with their URLs and is still to go to Redis goes now; resolves once it did. */
  async drain(): Promise<void> {
    await Promise.all([...this.byUrl.values()].map((r) => r.ledger.drain()));
  }

  of(url: string): Receiver {
    let r = this.byUrl.get(url);
    if (!r) {
      r = new Receiver(url, this.redis, this.keys, this.opts);
      this.byUrl.set(url, r);
    }
    return r;
  }
}
