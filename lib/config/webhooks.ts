import { WEBHOOK_DEFAULTS, type WebhookOptions } from '../webhooks/options';
import { redactWebhookUrl } from '../webhook-url';
import { DURATION_FORMS, parseDuration } from './duration';
import { ConfigError, type Env } from './env';

/** A default as the variable would be written: 0 is `off`. */
const offOr = (n: number, unit = '') => (n === 0 ? 'off' : `${n}${unit}`);

const list = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);

/**
 * WEBHOOK_* and the keys webhooks are signed with (API_KEY / API_SECRET); unset variables
 * take WEBHOOK_DEFAULTS. loadOptions passes the node's resolved keys (the dev keys too).
 */
export function loadWebhookOptions(env: Env): WebhookOptions {
  const urls = list(env.WEBHOOK_URLS);
  // a password may hold an unescaped ',' and so span entries: with any '@', the error shows the
  // whole list (ConfigError hides its credentials), not the entry, which may hold only part of one
  const shown = (u: string) => (env.WEBHOOK_URLS?.includes('@') ? env.WEBHOOK_URLS.trim() : u);
  for (const u of urls) {
    let parsed: URL | null = null;
    try { parsed = new URL(u); } catch { parsed = null; }
    if (!parsed || !['http:', 'https:'].includes(parsed.protocol)) throw new ConfigError('WEBHOOK_URLS', shown(u), 'comma-separated http:// or https:// URLs');
    // a webhook's Authorization header carries its signed token, so user:password@ would
    // never be sent, only written to every log line that names the URL
    if (parsed.username || parsed.password) {
      throw new ConfigError('WEBHOOK_URLS', shown(u), 'URLs without user:password@ (the Authorization header carries the signed token, so credentials in the URL would not be sent)');
    }
  }
  // a URL's lanes, slots, breaker and dead letters are keyed by the URL: listed twice, the two
  // entries would share them (each event queued twice to one lane, the cap counted twice)
  const twice = urls.find((u, i) => urls.indexOf(u) !== i);
  // a valid URL by now: shown by its origin and tag, as logs show it (its path may be a secret)
  if (twice !== undefined) throw new ConfigError('WEBHOOK_URLS', redactWebhookUrl(twice), 'each URL once');
  const timeoutRaw = env.WEBHOOK_TIMEOUT?.trim() || `${WEBHOOK_DEFAULTS.timeoutMs}ms`;
  const timeoutMs = parseDuration(timeoutRaw);
  if (timeoutMs === null || timeoutMs < 10) throw new ConfigError('WEBHOOK_TIMEOUT', timeoutRaw, `${DURATION_FORMS}, at least 10ms`);
  const dedupeRaw = env.WEBHOOK_DEDUPE_WINDOW?.trim() || `${WEBHOOK_DEFAULTS.dedupeWindowMs}ms`;
  const dedupeWindowMs = parseDuration(dedupeRaw);
  if (dedupeWindowMs === null || dedupeWindowMs < 1000) throw new ConfigError('WEBHOOK_DEDUPE_WINDOW', dedupeRaw, `${DURATION_FORMS}, at least 1s`);
  const maxAgeRaw = env.WEBHOOK_MAX_AGE?.trim() || offOr(WEBHOOK_DEFAULTS.maxAgeMs, 'ms');
  const maxAgeMs = maxAgeRaw === 'off' || maxAgeRaw === '0' ? 0 : parseDuration(maxAgeRaw);
  if (maxAgeMs === null || (maxAgeMs > 0 && maxAgeMs < 1000)) throw new ConfigError('WEBHOOK_MAX_AGE', maxAgeRaw, `${DURATION_FORMS}, at least 1s, or off`);
  const breakRaw = env.WEBHOOK_BREAK_AFTER?.trim() || offOr(WEBHOOK_DEFAULTS.breakAfterMs, 'ms');
  const breakAfterMs = breakRaw === 'off' || breakRaw === '0' ? 0 : parseDuration(breakRaw);
  if (breakAfterMs === null || (breakAfterMs > 0 && breakAfterMs < 100)) throw new ConfigError('WEBHOOK_BREAK_AFTER', breakRaw, `${DURATION_FORMS}, at least 100ms, or off`);
  const probeRaw = env.WEBHOOK_PROBE_EVERY?.trim() || `${WEBHOOK_DEFAULTS.probeEveryMs}ms`;
  const probeEveryMs = parseDuration(probeRaw);
  if (probeEveryMs === null || probeEveryMs < 100) throw new ConfigError('WEBHOOK_PROBE_EVERY', probeRaw, `${DURATION_FORMS}, at least 100ms`);
  const inFlightRaw = env.WEBHOOK_MAX_IN_FLIGHT?.trim() || offOr(WEBHOOK_DEFAULTS.maxInFlight);
  const maxInFlight = inFlightRaw === 'off' ? 0 : Number(inFlightRaw);
  if (!/^(\d+|off)$/.test(inFlightRaw) || maxInFlight > 100_000) throw new ConfigError('WEBHOOK_MAX_IN_FLIGHT', inFlightRaw, 'a whole number up to 100000, or off (0)');
  const rateRaw = env.WEBHOOK_RATE_LIMIT?.trim() || offOr(WEBHOOK_DEFAULTS.rateLimit);
  const rateLimit = rateRaw === 'off' ? 0 : Number(rateRaw);
  if (!/^(\d+(\.\d+)?|off)$/.test(rateRaw) || (rateLimit > 0 && rateLimit < 0.01) || rateLimit > 1_000_000) {
    throw new ConfigError('WEBHOOK_RATE_LIMIT', rateRaw, 'events per second per URL (at least 0.01), or off (0)');
  }
  const attemptsRaw = env.WEBHOOK_MAX_ATTEMPTS?.trim() || String(WEBHOOK_DEFAULTS.maxAttempts);
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
