import type { RedisClient } from '../redis/connection';
import type { KeySpace } from '../redis/keys';
import type { WebhookOptions } from './options';
import { describeAttempt, type Attempt } from './attempt';
import { webhookUrlTag } from '../webhook-url';

/** Delivery latencies a URL keeps for its p50 / p99 (the latest ones). */
export const LATENCY_SAMPLES = 1000;
/** Dead letters are indexed as long as BullMQ keeps their jobs (removeOnFail's age). */
export const DEAD_LETTER_KEPT_MS = 7 * 86_400_000;

/** What the gate says to a run about to send to its URL. */
export type Gate = { kind: 'open' } | { kind: 'probe' } | { kind: 'held'; waitMs: number };

/** What recording a run's outcomes changed. */
export interface Outcome {
  resumed: boolean;
  pausedNow: boolean;
  paused: boolean;
  /** While paused: ms until the next probe slot. */
  probeInMs: number;
  /** Runs held while the URL was paused, to promote now it resumed. */
  held: string[];
}

/** The run job ids look like 'run.<lane>.<id>': the lane names the queue shard holding the job. */
export const laneOfRun = (runId: string) => runId.split('.')[1] ?? '';

/**
 * One webhook URL as the fleet sees it, in Redis under the URL's hash tag: its failing
 * streak and circuit breaker (paused, probe slot, runs held), the latencies of its latest
 * deliveries, its lanes with work and its dead letters. Any node delivering to the URL
 * writes it; any node's API reads it.
 */
export class UrlStatus {
  readonly keys: ReturnType<KeySpace['webhookUrl']>;
  /** When this node last recorded a success of the URL (sent at): see surelyUnpaused. */
  private succeededAt = -Infinity;

  constructor(readonly url: string, private readonly redis: RedisClient, keySpace: KeySpace, private readonly opts: WebhookOptions) {
    this.keys = keySpace.webhookUrl(webhookUrlTag(url));
  }

  /**
   * The URL cannot be paused now: a pause needs every attempt to fail for breakAfterMs, and
   * this node recorded a success less than that ago (the streak, if any, began after it).
   * The gate is skipped then, so a healthy URL costs no gate call.
   */
  surelyUnpaused(): boolean {
    return this.opts.breakAfterMs === 0 || Date.now() - this.succeededAt < this.opts.breakAfterMs;
  }

  /** This node recorded deliveries to the URL that succeeded, sent at `sentAt` (see surelyUnpaused). */
  succeeded(sentAt: number): void {
    this.succeededAt = Math.max(this.succeededAt, sentAt);
  }

  /** Before a run's pickup sends: the breaker's say. A held run is remembered, to be promoted on resume. */
  async gate(runId: string): Promise<Gate> {
    const k = this.keys;
    const [kind, wait] = (await this.redis.gateWebhookUrl(k.status, k.probe, k.held, runId, this.opts.probeEveryMs)) as number[];
    if (kind === 0) return { kind: 'open' };
    if (kind === 1) return { kind: 'probe' };
    return { kind: 'held', waitMs: Number(wait) };
  }

  /** The latencies of deliveries that succeeded, then at most one failed attempt after them. */
  async record(runId: string, latencies: number[], failed?: Attempt): Promise<Outcome> {
    const k = this.keys;
    const sentAt = Date.now();
    const r = (await this.redis.recordWebhookOutcome(
      k.status, k.latency, k.probe, k.held, this.opts.breakAfterMs, this.opts.probeEveryMs, LATENCY_SAMPLES,
      failed ? String(failed.status) : '', failed ? describeAttempt(failed) : '', runId, ...latencies.map((ms) => Math.round(ms)),
    )) as (number | string)[];
    if (latencies.length > 0) this.succeeded(sentAt);
    return {
      resumed: r[0] === 1, pausedNow: r[1] === 1, paused: r[2] === 1, probeInMs: Number(r[3]), held: r.slice(4).map(String),
    };
  }

  /** A lane of this URL was given a run: it has work (GET /v1/webhooks sums its lanes). */
  async noteLane(laneId: string, runId: string): Promise<void> {
    await this.redis.hset(this.keys.lanes, laneId, runId);
  }

  /** Inline runs whose deadline passed (their node died, or they were handed on and not forgotten), oldest first. */
  async lapsedInlineRuns(now = Date.now(), max = 100): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.inline, '-inf', now, 'LIMIT', 0, max);
  }

  /** The inline run is over (its lane drained, handed on, or taken over). */
  async forgetInlineRun(runId: string): Promise<void> {
    await this.redis.zrem(this.keys.inline, runId);
  }

  /** A dead letter of this URL ('<lane>|<delivery id>'), indexed by when it was given up (for replay and the count). */
  async noteDeadLetter(laneId: string, id: string, at = Date.now()): Promise<void> {
    await Promise.all([
      this.redis.zadd(this.keys.dead, at, `${laneId}|${id}`),
      this.redis.zremrangebyscore(this.keys.dead, '-inf', at - DEAD_LETTER_KEPT_MS),
    ]);
  }
}
