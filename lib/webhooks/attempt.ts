/** The outcome of one POST: the HTTP status (0 when none came) and the network error, if any. */
export interface Attempt {
  status: number;
  error: string;
  /** A 429's or 503's `Retry-After`, in ms from when it came. */
  retryAfterMs?: number;
}

/**
 * `Retry-After` (delta-seconds or an HTTP date) in ms from `now`, for a status that gives it
 * meaning: a receiver that says when to come back (429 Too Many Requests, 503 Unavailable) is
 * not asked again sooner. Undefined for any other status or a value that does not parse.
 */
export function retryAfterMs(status: number, header: string | undefined, now = Date.now()): number | undefined {
  if ((status !== 429 && status !== 503) || header === undefined) return undefined;
  const v = header.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = /[a-z]/i.test(v) ? Date.parse(v) : NaN;
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

export const succeeded = (attempt: Attempt) => attempt.status >= 200 && attempt.status < 300;

/** An HTTP answer that is final at once: a 4xx other than 408 and 429. */
export const isFinal = ({ status }: Attempt) => status >= 400 && status < 500 && status !== 408 && status !== 429;

/**
 * A failed attempt as its dead letter, its job's progress and the logs tell it. The URL is
 * not in it: each of those names the URL beside it (logs by its origin and tag only, as the
 * path may hold the receiver's secret). A redirect is a failure: a signed event goes only to
 * a URL in WEBHOOK_URLS.
 */
export const describeAttempt = ({ status, error }: Attempt) => {
  if (!status) return error;
  return status >= 300 && status < 400 ? `HTTP ${status} (a redirect: not followed)` : `HTTP ${status}`;
};
