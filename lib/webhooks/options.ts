import { ConfigError } from '../config/options';
import { DURATION_FORMS, parseDuration } from '../config/duration';

/** Webhook delivery settings, read from the environment (see .env.example). */
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
  breakAfterMs: 300_000, probeEveryMs: 60_000, maxInFlight: 16, rateLimit: 0,
};

const list = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);

export function loadWebhookOptions(env: Record<string, string | undefined> = process.env): WebhookOptions {
  const urls = list(env.WEBHOOK_URLS);
  for (const u of urls) {
    let ok = false;
    try { ok = ['http:', 'https:'].includes(new URL(u).protocol); } catch { ok = false; }
    if (!ok) throw new ConfigError('WEBHOOK_URLS', u, 'comma-separated http:// or https:// URLs');
  }
  const timeoutRaw = env.WEBHOOK_TIMEOUT?.trim() || '10s';
  const timeoutMs = parseDuration(timeoutRaw);
  if (timeoutMs === null || timeoutMs < 10) throw new ConfigError('WEBHOOK_TIMEOUT', timeoutRaw, `${DURATION_FORMS}, at least 10ms`);
  const dedupeRaw = env.WEBHOOK_DEDUPE_WINDOW?.trim() || '1h';
  const dedupeWindowMs = parseDuration(dedupeRaw);
  if (dedupeWindowMs === null || dedupeWindowMs < 1000) throw new ConfigError('WEBHOOK_DEDUPE_WINDOW', dedupeRaw, `${DURATION_FORMS}, at least 1s`);
  const maxAgeRaw = env.WEBHOOK_MAX_AGE?.trim() || 'off';
  const maxAgeMs = maxAgeRaw === 'off' || maxAgeRaw === '0' ? 0 : parseDuration(maxAgeRaw);
  if (maxAgeMs === null || (maxAgeMs > 0 && maxAgeMs < 1000)) throw new ConfigError('WEBHOOK_MAX_AGE', maxAgeRaw, `${DURATION_FORMS}, at least 1s, or off`);
  const breakRaw = env.WEBHOOK_BREAK_AFTER?.trim() || '5m';
  const breakAfterMs = breakRaw === 'off' || breakRaw === '0' ? 0 : parseDuration(breakRaw);
  if (breakAfterMs === null || (breakAfterMs > 0 && breakAfterMs < 100)) throw new ConfigError('WEBHOOK_BREAK_AFTER', breakRaw, `${DURATION_FORMS}, at least 100ms, or off`);
  const probeRaw = env.WEBHOOK_PROBE_EVERY?.trim() || '1m';
  const probeEveryMs = parseDuration(probeRaw);
  if (probeEveryMs === null || probeEveryMs < 100) throw new ConfigError('WEBHOOK_PROBE_EVERY', probeRaw, `${DURATION_FORMS}, at least 100ms`);
  const inFlightRaw = env.WEBHOOK_MAX_IN_FLIGHT?.trim() || String(WEBHOOK_DEFAULTS.maxInFlight);
  const maxInFlight = inFlightRaw === 'off' ? 0 : Number(inFlightRaw);
  if (!/^(\d+|off)$/.test(inFlightRaw) || maxInFlight > 100_000) throw new ConfigError('WEBHOOK_MAX_IN_FLIGHT', inFlightRaw, 'a whole number up to 100000, or off (0)');
  const rateRaw = env.WEBHOOK_RATE_LIMIT?.trim() || 'off';
  const rateLimit = rateRaw === 'off' ? 0 : Number(rateRaw);
  if (!/^(\d+(\.\d+)?|off)$/.test(rateRaw) || (rateLimit > 0 && rateLimit < 0.01) || rateLimit > 1_000_000) {
    throw new ConfigError('WEBHOOK_RATE_LIMIT', rateRaw, 'events per second per URL (at least 0.01), or off (0)');
  }
  const attemptsRaw = env.WEBHOOK_MAX_ATTEMPTS?.trim() || '12';
  if (!/^\d+$/.test(attemptsRaw) || Number(attemptsRaw) < 1 || Number(attemptsRaw) > 100) {
    throw new ConfigError('WEBHOOK_MAX_ATTEMPTS', attemptsRaw, 'a whole number from 1 to 100');
  }
  const apiKey = env.API_KEY?.trim() ?? '';
  const apiSecret = env.API_SECRET?.trim() ?? '';
  if (urls.length > 0 && (!apiKey || !apiSecret)) {
    throw new ConfigError('API_KEY', apiKey ? '(set)' : '', 'API_KEY and API_SECRET both set when WEBHOOK_URLS is (webhooks are signed with them)');
  }
  return {
    ...WEBHOOK_DEFAULTS, urls, includeEvents: list(env.WEBHOOK_INCLUDE_EVENTS), excludeEvents: list(env.WEBHOOK_EXCLUDE_EVENTS),
    apiKey, apiSecret, timeoutMs, maxAttempts: Number(attemptsRaw), dedupeWindowMs, maxAgeMs,
    breakAfterMs, probeEveryMs, maxInFlight, rateLimit,
  };
}

/** LiveKit's filter: an include list, when given, wins; else the exclude list applies. */
export function wantsEvent(o: Pick<WebhookOptions, 'includeEvents' | 'excludeEvents'>, event: string): boolean {
  if (o.includeEvents.length > 0) return o.includeEvents.includes(event);
  return !o.excludeEvents.includes(event);
}
