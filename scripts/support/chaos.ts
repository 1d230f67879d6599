/**
 * The pieces of `npm run simulate -- --chaos` that are not about time: a fetch that sends
 * some batches twice at once to two coordinator nodes, a "buggy SFU" sending malformed
 * events, and a summary of what the coordinator nodes logged.
 */
import { AccessToken } from 'livekit-server-sdk';

/** The copies a duplicating fetch sent, and how the nodes that got them answered. */
export class DuplicateTally {
  sent = 0;
  /** Answer ('200', '503', 'network error', ...) -> copies answered so. */
  readonly answers = new Map<string, number>();
  private readonly inflight = new Set<Promise<void>>();

  track(copy: Promise<string>): void {
    const p = copy.then((what) => { this.answers.set(what, (this.answers.get(what) ?? 0) + 1); });
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** Resolves once every copy sent so far has its answer. */
  async settled(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  describe(): string {
    const parts = [...this.answers].sort(([a], [b]) => a.localeCompare(b)).map(([what, n]) => `${what}: ${n}`);
    return `${this.sent}${parts.length ? ` (copy answered ${parts.join(', ')})` : ''}`;
  }
}

const urlOf = (input: string | URL | Request) => (typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);

/**
 * A fetch for TelemetryClient's `fetch` option: for a `share` of the POST /v1/telemetry
 * requests it also fires the identical request (same body, same token) at another
 * coordinator URL, at the same moment. The client sees only its own request's answer; the
 * copy's is counted. A fleet that applies the batch twice shows it in the webhook ledger.
 */
export function duplicatingFetch(urls: string[], share: number, random: () => number, tally: DuplicateTally): typeof fetch {
  return (input, init) => {
    const url = urlOf(input);
    if (init?.method === 'POST' && url.endsWith('/v1/telemetry') && urls.length > 1 && random() < share) {
      const others = urls.filter((u) => !url.startsWith(`${u}/`));
      const other = others[Math.floor(random() * others.length)];
      tally.sent++;
      tally.track(fetch(`${other}/v1/telemetry`, { method: 'POST', headers: init.headers, body: init.body, signal: AbortSignal.timeout(30_000) })
        .then(async (res) => { await res.arrayBuffer(); return String(res.status); }, () => 'network error'));
    }
    return fetch(input, init);
  };
}

interface MalformedKind {
  what: string;
  /** The field the 400 must name. */
  names: RegExp;
  event(n: number): Record<string, unknown>;
}

const buggyRoom = (n: number, tag: string) => ({ sid: `RM_buggy_${n}_${tag}`, name: `buggy-${n}-${tag}` });

/** What a buggy SFU gets wrong; each goes second in its batch, after a good event. */
export const MALFORMED_KINDS: MalformedKind[] = [
  {
    what: 'a stat whose stream has rtt -1',
    names: /events\[1\]\.stat\b/,
    event: (n) => ({
      method: 'trackStats', id: `buggy:${n}:1`, roomId: `RM_buggy_${n}`, roomName: `buggy-${n}`,
      key: { streamType: 'UPSTREAM', participantId: 'PA_buggy', trackId: 'TR_buggy' },
      stat: { roomId: `RM_buggy_${n}`, participantId: 'PA_buggy', trackId: 'TR_buggy', score: 4.5, streams: [{ ssrc: 1, primaryBytes: '1000', primaryPackets: 1, rtt: -1 }] },
    }),
  },
  {
    what: "the unknown method 'toString'",
    names: /events\[1\]\.method\b/,
    event: (n) => ({ method: 'toString', id: `buggy:${n}:1`, room: buggyRoom(n, 'b') }),
  },
  {
    what: 'participantLeft without shouldSendEvent',
    names: /events\[1\]\.shouldSendEvent\b/,
    event: (n) => ({ method: 'participantLeft', id: `buggy:${n}:1`, room: buggyRoom(n, 'b'), participant: { sid: 'PA_buggy', identity: 'buggy' } }),
  },
  {
    what: 'an event id of 300 bytes',
    names: /events\[1\]\.id\b/,
    event: (n) => ({ method: 'roomStarted', id: `buggy:${n}:`.padEnd(300, 'x'), room: buggyRoom(n, 'b') }),
  },
];

export interface MalformedResult {
  what: string;
  status: number | 'network error';
  message: string;
  namesField: boolean;
}

/**
 * An SFU node with a bug: raw requests, a token minted by livekit-server-sdk, each batch a
 * good `roomStarted` (of a room no one else uses: if it were applied, its webhook would
 * show up in the ledger as unexpected) followed by a malformed event.
 */
export class BuggySfu {
  readonly results: MalformedResult[] = [];
  private token: string | null = null;
  private turn = 0;
  private n = 0;

  constructor(private readonly urls: string[], private readonly apiKey: string, private readonly apiSecret: string) {}

  get sent(): number {
    return this.results.length;
  }

  get answered4xx(): number {
    return this.results.filter((r) => typeof r.status === 'number' && r.status >= 400 && r.status < 500).length;
  }

  /** Sends the next kind of malformed batch; a request no node answered (one was down) goes to the next. */
  async sendOne(): Promise<MalformedResult> {
    const n = this.n++;
    const kind = MALFORMED_KINDS[n % MALFORMED_KINDS.length];
    if (!this.token) {
      const at = new AccessToken(this.apiKey, this.apiSecret, { identity: 'sfu-buggy', ttl: '10m' });
      at.addObservabilityGrant({ write: true });
      this.token = await at.toJwt();
    }
    const body = JSON.stringify({ nodeId: 'sfu-buggy', events: [{ method: 'roomStarted', id: `buggy:${n}:0`, room: buggyRoom(n, 'a') }, kind.event(n)] });
    let result: MalformedResult = { what: kind.what, status: 'network error', message: '', namesField: false };
    for (let attempt = 0; attempt < 3 * this.urls.length; attempt++) {
      const url = this.urls[this.turn++ % this.urls.length];
      try {
        const res = await fetch(`${url}/v1/telemetry`, {
          method: 'POST', headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json' }, body,
          signal: AbortSignal.timeout(10_000),
        });
        const text = await res.text();
        let message = text;
        try { message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text; } catch { /* not JSON */ }
        result = { what: kind.what, status: res.status, message, namesField: kind.names.test(message) };
        break;
      } catch (e) {
        // no answer at all (a node down): the request never reached the API
        result = { what: kind.what, status: 'network error', message: (e as Error).message, namesField: false };
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    this.results.push(result);
    return result;
  }
}

/** Lines a coordinator node logged at warn or above (pino JSON), by level and message, most frequent first. */
export function summarizeLogs(chunks: string[]): { level: string; msg: string; count: number }[] {
  const LEVELS: Record<number, string> = { 40: 'warn', 50: 'error', 60: 'fatal' };
  const counts = new Map<string, { level: string; msg: string; count: number }>();
  for (const line of chunks.join('').split('\n')) {
    if (line.trim() === '') continue;
    let level = 'other';
    let msg = line.trim().slice(0, 160);
    try {
      const j = JSON.parse(line) as { level?: number; msg?: string; err?: unknown; job?: unknown };
      if (typeof j.level === 'number' && j.level < 40) continue;
      level = LEVELS[j.level ?? 0] ?? String(j.level);
      const err = typeof j.err === 'string' ? j.err : (j.err as { message?: string } | undefined)?.message;
      msg = `${j.msg ?? ''}${j.job ? ` (${String(j.job)})` : ''}${err ? `: ${err.slice(0, 100)}` : ''}`;
    } catch { /* not a pino line: a stack trace, a console.error */ }
    const key = `${level}\n${msg}`;
    const entry = counts.get(key) ?? { level, msg, count: 0 };
    entry.count++;
    counts.set(key, entry);
  }
  return [...counts.values()].sort((a, b) => b.count - a.count);
}
