import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { GUARDED_METHODS, type Method } from '../telemetry/methods';
import type * as T from '../telemetry/types';
import { validateCall } from '../telemetry/validate';
import { CLIENT_DEFAULTS, type TelemetryClientOptions } from './options';

export type { RequestReport } from './options';

/** A call the coordinators refused (4xx): nothing of its batch was applied. */
export class TelemetryRequestError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly index?: number) {
    super(message);
    this.name = 'TelemetryRequestError';
  }
}

interface Pending {
  event: Record<string, unknown>;
  resolve(): void;
  reject(e: Error): void;
}

/** A protobuf class becomes its JSON form (what the API takes); anything else goes as it is. */
function toWire(args: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    if (v === undefined) continue;
    out[k] = v !== null && typeof v === 'object' && typeof (v as { toJson?: unknown }).toJson === 'function'
      ? (v as { toJson(): unknown }).toJson()
      : v;
  }
  return out;
}

/**
 * LiveKit's TelemetryService over HTTP: an SFU written in Node.js uses the same interface
 * whether the service runs in its process or on a coordinator fleet.
 *
 * Calls are batched into `POST /v1/telemetry` and applied in the order they were made:
 * one batch is in flight at a time and the next fills meanwhile, so batches grow with the
 * load and never overtake each other. Each event carries an id, so a batch whose answer
 * was lost (a node died, a 503 while Redis restarts) is retried on the next URL without
 * being applied twice. A call resolves only once the fleet holds its effects.
 */
export class TelemetryClient implements T.TelemetryService {
  private readonly o: TelemetryClientOptions & typeof CLIENT_DEFAULTS;
  private readonly queue: Pending[] = [];
  private sending = false;
  private scheduled = false;
  private turn = 0;
  private seq = 0;
  private readonly session = randomBytes(6).toString('base64url');
  private token: { jwt: string; renewAt: number } | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private lastSent = 0;
  private closed = false;
  private readonly idle: (() => void)[] = [];

  constructor(options: TelemetryClientOptions) {
    if (options.urls.length === 0) throw new Error('TelemetryClient: urls must name at least one coordinator');
    if (!options.nodeId) throw new Error('TelemetryClient: nodeId is required (the SFU node this client speaks for)');
    if (!options.token && !(options.apiKey && options.apiSecret)) throw new Error('TelemetryClient: give apiKey and apiSecret, or token');
    this.o = { ...CLIENT_DEFAULTS, ...options };
    if (this.o.maxBatch < 1 || this.o.maxBatch > 1000) throw new Error('TelemetryClient: maxBatch must be 1 to 1000 (the API takes at most 1000 events)');
    if (this.o.heartbeatIntervalMs > 0) {
      this.heartbeat = setInterval(() => void this.renewLease(), this.o.heartbeatIntervalMs);
      this.heartbeat.unref();
    }
  }

  get nodeId(): string {
    return this.o.nodeId;
  }

  // ---- TelemetryService ----------------------------------------------------------------

  trackStats(args: T.TrackStatsArgs) { return this.call('trackStats', args); }
  roomStarted(args: Parameters<T.TelemetryService['roomStarted']>[0]) { return this.call('roomStarted', args); }
  roomEnded(args: Parameters<T.TelemetryService['roomEnded']>[0]) { return this.call('roomEnded', args); }
  // the guard's owner is this client's node: the API takes it from the batch
  participantJoined({ nodeId: _owner, ...args }: T.ParticipantJoinedArgs) { return this.call('participantJoined', args); }
  participantActive({ nodeId: _owner, ...args }: T.ParticipantActiveArgs) { return this.call('participantActive', args); }
  participantResumed(args: T.ParticipantResumedArgs) { return this.call('participantResumed', args); }
  participantLeft(args: T.ParticipantLeftArgs) { return this.call('participantLeft', args); }
  trackPublishRequested(args: T.TrackPublishArgs) { return this.call('trackPublishRequested', args); }
  trackPublished(args: T.TrackPublishArgs) { return this.call('trackPublished', args); }
  trackUnpublished(args: Parameters<T.TelemetryService['trackUnpublished']>[0]) { return this.call('trackUnpublished', args); }
  trackSubscribeRequested(args: T.TrackArgs) { return this.call('trackSubscribeRequested', args); }
  trackSubscribed(args: Parameters<T.TelemetryService['trackSubscribed']>[0]) { return this.call('trackSubscribed', args); }
  trackUnsubscribed(args: Parameters<T.TelemetryService['trackUnsubscribed']>[0]) { return this.call('trackUnsubscribed', args); }
  trackSubscribeFailed(args: Parameters<T.TelemetryService['trackSubscribeFailed']>[0]) { return this.call('trackSubscribeFailed', args); }
  trackMuted(args: T.TrackArgs) { return this.call('trackMuted', args); }
  trackUnmuted(args: T.TrackArgs) { return this.call('trackUnmuted', args); }
  trackPublishedUpdate(args: T.TrackArgs) { return this.call('trackPublishedUpdate', args); }
  trackMaxSubscribedVideoQuality(args: Parameters<T.TelemetryService['trackMaxSubscribedVideoQuality']>[0]) { return this.call('trackMaxSubscribedVideoQuality', args); }
  trackPublishRTPStats(args: Parameters<T.TelemetryService['trackPublishRTPStats']>[0]) { return this.call('trackPublishRTPStats', args); }
  trackSubscribeRTPStats(args: Parameters<T.TelemetryService['trackSubscribeRTPStats']>[0]) { return this.call('trackSubscribeRTPStats', args); }
  egressStarted(args: Parameters<T.TelemetryService['egressStarted']>[0]) { return this.call('egressStarted', args); }
  egressUpdated(args: Parameters<T.TelemetryService['egressUpdated']>[0]) { return this.call('egressUpdated', args); }
  egressEnded(args: Parameters<T.TelemetryService['egressEnded']>[0]) { return this.call('egressEnded', args); }
  ingressCreated(args: Parameters<T.TelemetryService['ingressCreated']>[0]) { return this.call('ingressCreated', args); }
  ingressDeleted(args: Parameters<T.TelemetryService['ingressDeleted']>[0]) { return this.call('ingressDeleted', args); }
  ingressStarted(args: Parameters<T.TelemetryService['ingressStarted']>[0]) { return this.call('ingressStarted', args); }
  ingressUpdated(args: Parameters<T.TelemetryService['ingressUpdated']>[0]) { return this.call('ingressUpdated', args); }
  ingressEnded(args: Parameters<T.TelemetryService['ingressEnded']>[0]) { return this.call('ingressEnded', args); }
  localRoomState(args: Parameters<T.TelemetryService['localRoomState']>[0]) { return this.call('localRoomState', args); }
  report(args: Parameters<T.TelemetryService['report']>[0]) { return this.call('report', args); }
  apiCall(args: Parameters<T.TelemetryService['apiCall']>[0]) { return this.call('apiCall', args); }
  webhook(args: Parameters<T.TelemetryService['webhook']>[0]) { return this.call('webhook', args); }

  /**
   * Sends every call made so far and resolves once they are applied. The fleet's own
   * flush of buffered stats runs on its FLUSH_INTERVAL schedule, as in LiveKit.
   */
  flushStats(): Promise<void> {
    return this.drained();
  }

  // ---- the SFU node's lease --------------------------------------------------------------

  /** Renews this SFU node's lease now (also done by every batch and the heartbeat timer). */
  async renewLease(): Promise<void> {
    if (this.closed || Date.now() - this.lastSent < this.o.heartbeatIntervalMs / 2) return;
    await this.request('POST', `/v1/nodes/${encodeURIComponent(this.o.nodeId)}/heartbeat`).catch(() => {});
  }

  /** The SFU node leaves cleanly: pending calls are sent, then its connections are released now. */
  async depart(): Promise<void> {
    await this.close();
    const res = await this.request('DELETE', `/v1/nodes/${encodeURIComponent(this.o.nodeId)}`);
    if (res.status !== 204) throw res.error ?? new TelemetryRequestError(0, 'depart_failed', `DELETE node answered ${res.status}`);
  }

  /** Sends what is pending and stops the heartbeat; the lease then lapses on its own. */
  async close(): Promise<void> {
    await this.drained();
    this.stopHeartbeat();
    this.closed = true;
  }

  /**
   * What a crashed SFU node looks like to the fleet: nothing more is sent, not even what is
   * pending (those calls reject), and the lease lapses.
   */
  destroy(): void {
    this.closed = true;
    this.stopHeartbeat();
    for (const p of this.queue.splice(0)) p.reject(new Error('TelemetryClient destroyed'));
  }

  // ---- batching --------------------------------------------------------------------------

  private call(method: Method, args: object): Promise<void> {
    if (this.closed) return Promise.reject(new Error('TelemetryClient is closed'));
    try {
      // checked as the coordinators check it, so a bad call fails alone instead of taking its
      // whole batch down with a 400; the guard's owner is this client's node
      validateCall(method, GUARDED_METHODS.has(method) && 'guard' in args && args.guard !== undefined ? { ...args, nodeId: this.o.nodeId } : args);
    } catch (e) {
      return Promise.reject(new TelemetryRequestError(400, 'invalid_field', (e as Error).message));
    }
    return new Promise<void>((resolve, reject) => {
      const event = { method, id: `${this.o.nodeId}:${this.session}:${++this.seq}`, ...toWire(args) };
      this.queue.push({ event, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.sending || this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    // calls made in the same tick (or within lingerMs) share a batch
    const go = () => { this.scheduled = false; void this.sendLoop(); };
    if (this.o.lingerMs > 0) setTimeout(go, this.o.lingerMs); else setImmediate(go);
  }

  private async sendLoop(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.o.maxBatch);
        await this.sendBatch(batch);
      }
    } finally {
      this.sending = false;
      for (const done of this.idle.splice(0)) done();
    }
  }

  private drained(): Promise<void> {
    if (!this.sending && !this.scheduled && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  private async sendBatch(batch: Pending[]): Promise<void> {
    const body = JSON.stringify({ nodeId: this.o.nodeId, events: batch.map((p) => p.event) });
    for (let attempt = 1; ; attempt++) {
      const res = await this.request('POST', '/v1/telemetry', body, batch.length);
      if (res.status === 200) {
        this.lastSent = Date.now();
        for (const p of batch) p.resolve();
        return;
      }
      // a 503 says "try again"; 502 and 504 are a proxy's word for a coordinator it could not
      // reach. A 4xx or a 500 would fail the same way again.
      const retryable = res.status === 'network-error' || res.status === 503 || res.status === 502 || res.status === 504;
      if (!retryable || attempt >= this.o.maxAttempts || this.closed) {
        const err = res.error ?? new TelemetryRequestError(Number(res.status) || 0, 'failed', `gave up after ${attempt} attempts`);
        for (const p of batch) p.reject(err);
        return;
      }
      const delay = Math.min(this.o.maxBackoffMs, this.o.baseBackoffMs * 2 ** (attempt - 1));
      await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random() / 2)));
    }
  }

  // ---- HTTP ----------------------------------------------------------------------------

  private async bearer(): Promise<string> {
    if (this.o.token) return this.o.token();
    const now = Date.now();
    if (!this.token || now >= this.token.renewAt) {
      const ttl = 10 * 60;
      // the grant the coordinator asks of every call: LiveKit's observability grant, which
      // participants' join tokens lack (as the Go client and livekit-server-sdk's AccessToken write it)
      const jwt = await new SignJWT({ observability: { write: true } })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(this.o.apiKey!)
        .setSubject(this.o.nodeId)
        .setNotBefore(Math.floor(now / 1000) - 5)
        .setExpirationTime(Math.floor(now / 1000) + ttl)
        .sign(new TextEncoder().encode(this.o.apiSecret!));
      this.token = { jwt, renewAt: now + (ttl / 2) * 1000 };
    }
    return this.token.jwt;
  }

  /** One request to the next coordinator in turn; a 4xx comes back as a TelemetryRequestError. */
  private async request(method: string, path: string, body?: string, events = 0): Promise<{ status: number | 'network-error'; error?: Error }> {
    const url = this.o.urls[this.turn++ % this.o.urls.length];
    const started = performance.now();
    let status: number | 'network-error' = 'network-error';
    let error: Error | undefined;
    try {
      const res = await (this.o.fetch ?? fetch)(`${url}${path}`, {
        method,
        headers: { Authorization: `Bearer ${await this.bearer()}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
        body,
        signal: AbortSignal.timeout(this.o.requestTimeoutMs),
      });
      status = res.status;
      const text = await res.text();
      if (status >= 400) {
        let e: { code?: string; message?: string; index?: number } = {};
        try { e = (JSON.parse(text) as { error?: typeof e }).error ?? {}; } catch { /* not JSON */ }
        error = new TelemetryRequestError(status, e.code ?? 'http_error', e.message ?? `${method} ${path} answered ${status}`, e.index);
      }
    } catch (e) {
      error = e as Error;
    }
    this.o.onRequest?.({ url, events, status, ms: performance.now() - started });
    return { status, error };
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}
