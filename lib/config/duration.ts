import { Duration } from 'luxon';

const SHORT = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT: Record<string, string> = { ms: 'milliseconds', s: 'seconds', m: 'minutes', h: 'hours' };

export const DURATION_FORMS = "a number with a unit (500ms, 30s, 3m, 1h) or ISO-8601 (PT3M)";

/** Parses `500ms`, `30s`, `3m`, `1h` or ISO-8601 (`PT3M`) into milliseconds; null when it is neither. */
export function parseDuration(text: string): number | null {
  const s = text.trim();
  const short = SHORT.exec(s);
  const d = short
    ? Duration.fromObject({ [UNIT[short[2]]]: Number(short[1]) })
    : /\d/.test(s) ? Duration.fromISO(s.toUpperCase()) : Duration.invalid('no amount');
  if (!d.isValid) return null;
  const ms = d.as('milliseconds');
  return Number.isFinite(ms) && ms >= 0 ? Math.round(ms) : null;
}
