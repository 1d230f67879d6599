/** Webhook delivery settings (read from the environment by lib/config/webhooks.ts; see .env.example). */
export interface WebhookOptions {
  urls: string[];
  includeEvents: string[];
  excludeEvents: string[];
  apiKey: string;
  apiSecret: string;
  /** Per attempt. */
  timeoutMs: number;
  maxAttempts: number;
  /** First retry after this, doubling, capped at maxBackoffMs. */
  baseBackoffMs: number;
  maxBackoffMs: number;
  /**
   * An event joining a lane whose run has not moved for this long makes sure the run's
   * BullMQ job is still there (re-made if it was lost or finished early).
   */
  stuckRunMs: number;
  /** A run takes this many of its lane's events from Redis at a time. */
  runBatch: number;
  /**
   * An event older than this (from its createdAt) when its turn comes, or when its retry
   * would come, is a dead letter instead of sent late. 0: no limit (the retries' ~1 h).
   */
  maxAgeMs: number;
  /**
   * An event id queued again within this long of its first queueing is not delivered again
   * (an id still waiting in its lane is refused however old). A lane's seen ids expire with it.
   */
  dedupeWindowMs: number;
  /**
   * Circuit breaker: a URL that failed every attempt for this long is paused (its lanes hold,
   * nothing dropped), probed once per probeEveryMs by the fleet; the first success resumes
   * it. 0: never paused.
   */
  breakAfterMs: number;
  probeEveryMs: number;
  /**
   * Per-URL limits, fleet-wide (url-limits.ts): runs sending to one URL at once (0: no cap),
   * and events/s to one URL (0: no limit; bursts of one second's worth).
   */
  maxInFlight: number;
  rateLimit: number;
}

export const WEBHOOK_DEFAULTS = {
  timeoutMs: 10_000, maxAttempts: 12, baseBackoffMs: 1000, maxBackoffMs: 300_000, stuckRunMs: 10_000, runBatch: 32, dedupeWindowMs: 3_600_000, maxAgeMs: 0,
  breakAfterMs: 300_000, probeEveryMs: 60_000, maxInFlight: 100, rateLimit: 0,
};

/** LiveKit's filter: an include list, when given, wins; else the exclude list applies. */
export function wantsEvent({ includeEvents, excludeEvents }: Pick<WebhookOptions, 'includeEvents' | 'excludeEvents'>, event: string): boolean {
  if (includeEvents.length > 0) return includeEvents.includes(event);
  return !excludeEvents.includes(event);
}
