/** The outcome of one POST: the HTTP status (0 when none came) and the network error, if any. */
export interface Attempt {
  status: number;
  error: string;
}

export const succeeded = (attempt: Attempt) => attempt.status >= 200 && attempt.status < 300;

/** An HTTP answer that is final at once: a 4xx other than 408 and 429. */
export const isFinal = ({ status }: Attempt) => status >= 400 && status < 500 && status !== 408 && status !== 429;

export const describeAttempt = ({ status, error }: Attempt, url: string) => (status ? `HTTP ${status} from ${url}` : `${error} (${url})`);
