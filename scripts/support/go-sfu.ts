import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { ArgsOf, Method } from '../../lib/telemetry/methods';
import type { TelemetryService } from '../../lib/telemetry/types';
import type { RequestReport } from '../../lib/client/telemetry-client';

const GO_MODULE = path.join(__dirname, '..', '..', 'clients', 'go');

/** Builds clients/go/cmd/sfu-bridge once per process (go's build cache makes a rebuild quick). */
export function buildSfuBridge(): string {
  const out = path.join(mkdtempSync(path.join(tmpdir(), 'sfu-bridge-')), 'sfu-bridge');
  built.add(out);
  execFileSync('go', ['build', '-o', out, './cmd/sfu-bridge'], { cwd: GO_MODULE, stdio: ['ignore', 'inherit', 'inherit'] });
  return out;
}

/** Binaries buildSfuBridge made: their directories go when their bridge stops. */
const built = new Set<string>();

/** A protobuf class becomes its JSON form; anything else goes as it is (as TelemetryClient's toWire). */
function toWire(args: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    if (v === undefined) continue;
    out[k] = v !== null && typeof v === 'object' && typeof (v as { toJson?: unknown }).toJson === 'function' ? (v as { toJson(): unknown }).toJson() : v;
  }
  return out;
}

interface BridgeOptions {
  urls: string[];
  apiKey: string;
  apiSecret: string;
  heartbeatIntervalMs?: number;
  lingerMs?: number;
  maxAttempts?: number;
  maxBackoffMs?: number;
  onRequest?: (r: RequestReport) => void;
  /** An event the Go client refused or gave up on: the run is not healthy. */
  onRefused?: (sfu: string, message: string) => void;
}

/**
 * The Go client's process: simulated SFU nodes whose calls go through
 * clients/go/telemetryclient (one Go client per SFU node), one JSON line per request.
 */
export class GoSfuBridge {
  private readonly child: ChildProcess;
  private next = 0;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

  constructor(private readonly binary: string, private readonly o: BridgeOptions) {
    const flags = [`-urls=${o.urls.join(',')}`, `-heartbeat=${o.heartbeatIntervalMs ?? 5000}ms`, `-linger=${o.lingerMs ?? 0}ms`];
    if (o.maxAttempts) flags.push(`-max-attempts=${o.maxAttempts}`);
    if (o.maxBackoffMs) flags.push(`-max-backoff=${o.maxBackoffMs}ms`);
    // the key and secret go by the environment: a command line is visible to every user
    this.child = spawn(binary, flags, { env: { ...process.env, API_KEY: o.apiKey, API_SECRET: o.apiSecret }, stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.once('exit', (code) => {
      for (const w of this.waiting.values()) w.reject(new Error(`sfu-bridge exited (${code})`));
      this.waiting.clear();
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.onLine(line));
  }

  private onLine(line: string): void {
    const m = JSON.parse(line) as { id?: number; ok?: boolean; error?: string; bench?: unknown; request?: { events: number; status: number; ms: number }; refused?: string; sfu?: string };
    if (m.request) {
      this.o.onRequest?.({ url: '', events: m.request.events, status: m.request.status === 0 ? 'network-error' : m.request.status, ms: m.request.ms });
      return;
    }
    if (m.refused) {
      this.o.onRefused?.(m.sfu ?? '', m.refused);
      return;
    }
    const w = m.id === undefined ? undefined : this.waiting.get(m.id);
    if (!w) return;
    this.waiting.delete(m.id!);
    if (m.error) w.reject(new Error(m.error)); else w.resolve(m.bench);
  }

  request(req: Record<string, unknown>): Promise<unknown> {
    const id = ++this.next;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, ...req })}\n`);
    });
  }

  /** Fire and forget (destroy: a crash answers nothing). */
  tell(req: Record<string, unknown>): void {
    this.child.stdin!.write(`${JSON.stringify(req)}\n`);
  }

  client(nodeId: string): GoSfuClient {
    return new GoSfuClient(this, nodeId);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.stdin!.end();
      await exited;
    }
    if (built.delete(this.binary)) rmSync(path.dirname(this.binary), { recursive: true, force: true });
  }
}

/**
 * One simulated SFU node on the Go client, with TelemetryClient's surface: a call resolves
 * once the fleet answered it.
 */
export class GoSfuClient implements TelemetryService {
  constructor(private readonly bridge: GoSfuBridge, readonly nodeId: string) {}

  private m<M extends Method>(method: M): (a: ArgsOf<M>) => Promise<void> {
    return async (a) => { await this.bridge.request({ op: 'call', sfu: this.nodeId, method, args: toWire(a as object) }); };
  }

  trackStats = this.m('trackStats');
  roomStarted = this.m('roomStarted');
  roomEnded = this.m('roomEnded');
  participantJoined = this.m('participantJoined');
  participantActive = this.m('participantActive');
  participantResumed = this.m('participantResumed');
  participantLeft = this.m('participantLeft');
  trackPublishRequested = this.m('trackPublishRequested');
  trackPublished = this.m('trackPublished');
  trackUnpublished = this.m('trackUnpublished');
  trackSubscribeRequested = this.m('trackSubscribeRequested');
  trackSubscribed = this.m('trackSubscribed');
  trackUnsubscribed = this.m('trackUnsubscribed');
  trackSubscribeFailed = this.m('trackSubscribeFailed');
  trackMuted = this.m('trackMuted');
  trackUnmuted = this.m('trackUnmuted');
  trackPublishedUpdate = this.m('trackPublishedUpdate');
  trackMaxSubscribedVideoQuality = this.m('trackMaxSubscribedVideoQuality');
  trackPublishRTPStats = this.m('trackPublishRTPStats');
  trackSubscribeRTPStats = this.m('trackSubscribeRTPStats');
  egressStarted = this.m('egressStarted');
  egressUpdated = this.m('egressUpdated');
  egressEnded = this.m('egressEnded');
  ingressCreated = this.m('ingressCreated');
  ingressDeleted = this.m('ingressDeleted');
  ingressStarted = this.m('ingressStarted');
  ingressUpdated = this.m('ingressUpdated');
  ingressEnded = this.m('ingressEnded');
  localRoomState = this.m('localRoomState');
  report = this.m('report');
  apiCall = this.m('apiCall');
  webhook = this.m('webhook');

  async flushStats(): Promise<void> {
    await this.bridge.request({ op: 'flush', sfu: this.nodeId });
  }

  async close(): Promise<void> {
    await this.bridge.request({ op: 'close', sfu: this.nodeId });
  }

  async depart(): Promise<void> {
    await this.bridge.request({ op: 'depart', sfu: this.nodeId });
  }

  destroy(): void {
    this.bridge.tell({ op: 'destroy', sfu: this.nodeId });
  }
}
