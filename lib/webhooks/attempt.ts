/** The outcome of one POST: the HTTP status (0 when none came) and the network error, if any. */
export interface Attempt {
  status: number;
  error: string;
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
