import { Duration } from 'luxon';

const SHORT = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT: Record<string, string> = { ms: 'milliseconds', s: 'seconds', m: 'minutes', h: 'hours' };

/**
 * The longest duration a setting takes: 24 days. Node's timers hold at most 2^31 - 1 ms
 * (24.8 days) and fire after 1 ms past it: DRAIN_TIMEOUT=P30D ended every drain at once.
 * One bound for every duration, so no setting can reach a timer that overflows, now or when
 * a later change makes one of it.
 */
export const MAX_DURATION_MS = 24 * 24 * 3_600_000;

export const DURATION_FORMS = "a number with a unit (500ms, 30s, 3m, 1h) or ISO-8601 (PT3M), up to 24 days";

/** Parses `500ms`, `30s`, `3m`, `1h` or ISO-8601 (`PT3M`) into milliseconds; null when it is neither, or longer than MAX_DURATION_MS. */
export function parseDuration(text: string): number | null {
  const s = text.trim();
  const short = SHORT.exec(s);
  // 400 digits read as Infinity, which luxon throws on rather than calling invalid
  if (short && !Number.isFinite(Number(short[1]))) return null;
  const d = short
    ? Duration.fromObject({ [UNIT[short[2]]]: Number(short[1]) })
    : /\d/.test(s) ? Duration.fromISO(s.toUpperCase()) : Duration.invalid('no amount');
  if (!d.isValid) return null;
  const ms = d.as('milliseconds');
  return Number.isFinite(ms) && ms >= 0 && ms <= MAX_DURATION_MS ? Math.round(ms) : null;
}
