/** The per-request figures a caller may watch (a simulator's latency table): `onRequest`'s argument. */
export interface RequestReport {
  url: string;
  events: number;
  status: number | 'network-error';
  ms: number;
}

export interface TelemetryClientOptions {
  /** Coordinator base URLs (`http://host:7890`); requests go round-robin, a retry to the next. */
  urls: string[];
  /** The SFU node this client speaks for: it owns the guards it sends, and its lease. */
  nodeId: string;
  /** Tokens are minted from these (HS256, iss = apiKey), as livekit-server-sdk's AccessToken. */
  apiKey?: string;
  apiSecret?: string;
  /** Or a token source of the caller's (an AccessToken's toJwt, with `addObservabilityGrant({ write: true })`); wins over apiKey / apiSecret. */
  token?: () => Promise<string>;
  /** Events per request, 1 to 1000. */
  maxBatch?: number;
  /** Wait this long for more calls before sending a batch; 0 = calls of the same tick. */
  lingerMs?: number;
  /** Attempts per batch on 503 / network errors before its calls reject. */
  maxAttempts?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  requestTimeoutMs?: number;
  /** Renew the lease this often when no batch did (0 = off); keep it well under NODE_LEASE. */
  heartbeatIntervalMs?: number;
  /** The HTTP client (default: the global fetch); a caller may route or wrap requests. */
  fetch?: typeof fetch;
  /** Called after every request, for the caller's own figures. */
  onRequest?: (report: RequestReport) => void;
}

export const CLIENT_DEFAULTS = {
  maxBatch: 500,
  lingerMs: 0,
  maxAttempts: 8,
  baseBackoffMs: 100,
  maxBackoffMs: 5_000,
  requestTimeoutMs: 10_000,
  heartbeatIntervalMs: 5_000,
};
