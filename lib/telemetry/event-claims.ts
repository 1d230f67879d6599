import type { RedisClient } from '../redis/connection';
import type { KeySpace } from '../redis/keys';

/** A request that a retry can cure (Redis unreachable, a concurrent copy still applying): 503. */
export class RetryableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryableError';
  }
}

export interface EventClaimOptions {
  /** Ids are kept at least this long and at most twice it: longer than any client retries. */
  windowMs: number;
  /**
   * A claim lapses this long after it was made or last renewed: the request applying the
   * batch renews it every third of it, so only a request whose node died (or whose Redis
   * went away) lets it lapse, and a retry takes over soon after.
   */
  leaseMs: number;
  /** A copy waits this long for the first request's outcome, then answers 503 (retry). */
  waitMs: number;
}

export const EVENT_CLAIM_DEFAULTS: EventClaimOptions = { windowMs: 2 * 60_000, leaseMs: 3_000, waitMs: 5_000 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Idempotency of event ids, per SFU node: an id is claimed atomically before its effects
 * are applied, recorded as applied after, or released if applying failed. A concurrent
 * copy of a batch waits for the first one's outcome instead of applying it again.
 */
export class EventClaims {
  constructor(private readonly redis: RedisClient, private readonly keys: KeySpace, readonly opts: EventClaimOptions = EVENT_CLAIM_DEFAULTS) {}

  private slices(nodeId: string): string[] {
    const k = Math.floor(Date.now() / this.opts.windowMs);
    return [k - 2, k - 1, k, k + 1].map((n) => this.keys.eventIds(nodeId, n));
  }

  /**
   * Claims `ids` (distinct) for `token`: true = claimed, apply it; false = applied before.
   * Waits while another request holds any of them.
   */
  async claim(nodeId: string, ids: string[], token: string): Promise<boolean[]> {
    const deadline = Date.now() + this.opts.waitMs;
    for (let pause = 5; ; pause = Math.min(100, pause * 2)) {
      const r = (await this.redis.claimEvents(...this.slices(nodeId), this.opts.windowMs, token, this.opts.leaseMs, ...ids)) as (string | number)[];
      if (r[0] === 'ok') return r.slice(1).map((s) => s === 1);
      if (Date.now() + pause > deadline) throw new RetryableError('a copy of this batch is being applied by another request; retry');
      await sleep(pause);
    }
  }

  private async settle(mode: 'done' | 'release' | 'renew', nodeId: string, ids: string[], token: string): Promise<void> {
    if (ids.length > 0) await this.redis.settleEvents(...this.slices(nodeId), this.opts.windowMs, token, mode, this.opts.leaseMs, ...ids);
  }

  /** The claimed ids' effects are stored. */
  done(nodeId: string, ids: string[], token: string): Promise<void> {
    return this.settle('done', nodeId, ids, token);
  }

  /** Applying failed: the claims go, so a retry applies them. */
  release(nodeId: string, ids: string[], token: string): Promise<void> {
    return this.settle('release', nodeId, ids, token);
  }

  /**
   * Keeps the claims while `work` runs, renewing them every third of the lease; a renewal
   * that fails (Redis away) is left to the next one, or to the lease.
   */
  async holding<T>(nodeId: string, ids: string[], token: string, work: () => Promise<T>): Promise<T> {
    if (ids.length === 0) return work();
    const timer = setInterval(() => void this.settle('renew', nodeId, ids, token).catch(() => {}), Math.max(100, Math.floor(this.opts.leaseMs / 3)));
    try {
      return await work();
    } finally {
      clearInterval(timer);
    }
  }
}
