/** The outcome of one POST: the HTTP status (0 when none came) and the network error, if any. */
export interface Attempt {
  status: number;
  error: string;
}

export const succeeded = (a: Attempt) => a.status >= 200 && a.status < 300;

/** An HTTP answer that is final at once: a 4xx other than 408 and 429. */
export const isFinal = (a: Attempt) => a.status >= 400 && a.status < 500 && a.status !== 408 && a.status !== 429;

export const describeAttempt = (a: Attempt, url: string) => (a.status ? `HTTP ${a.status} from ${url}` : `${a.error} (${url})`);
