/**
 * Webhook deliveries per second to a local receiver with 1, 100 and 10,000 distinct keys,
 * beside raw HTTP POSTs to the same receiver from the same process at the same
 * concurrency (and, for 1 key, whose events go out one after another, beside raw POSTs
 * one at a time), and the p50 / p99 enqueue-to-delivery latency at a steady 1,000 and
 * 3,000 events/s.
 *
 * The key rows also give the runs sent inline or handed to BullMQ jobs, and the pickups held
 * by per-URL limits; the steady rows give those too, and the process's CPU (cores). After each rate's delivery row comes a
 * "raw POSTs at N/s (baseline)" row: raw POSTs (httpPost, the same body, plus a fixed
 * 307-character Authorization header, no signing) sent on the same schedule, with each
 * POST's send-to-response p50 / p99 (ms, two decimals) and the process's CPU measured the
 * same way: whether the machine carries that rate at all with this receiver. Then a "floor at
 * N/s" row: on the same schedule, each event made, written to Redis by the enqueue script,
 * signed and POSTed, timed from before its enqueue to the receiver's answer, with no lane run:
 * what any delivery that keeps an event in Redis before sending it could hold at that rate here.
 * Last a "ceiling at N/s" row: the same without Redis (each event made, signed and POSTed,
 * nothing stored): what no delivery, durable or not, can beat with this producer and receiver.
 *
 *   npm run bench:webhooks [-- --events 5000 --concurrency 100 --seconds 10]
 *     [--keys 1,100,10000] [--rates 1000,3000] [--only keys|steady] [--max-in-flight N (0: off)]
 *     [--receiver inline|process] [--threads one|node] [--warmup 1000] [--rounds 1]
 *
 * --warmup N (default 1,000; 0: none, as runs before 2026-11-28): first, unmeasured, N raw
 * POSTs (and up to 500 one at a time) and a delivery of N events over 100 keys, so that no
 * row is timed while its code is still being compiled.
 * Beside the baselines, a floor row: what any durable delivery could reach here, each event
 * made (as the rows' producer makes it), written to Redis by the enqueue script, signed and
 * POSTed, CONCURRENCY at once, with no lane run and no order kept; the "vs floor" column
 * gives each key row's rate against it (median of the rounds' ratios). And a ceiling row:
 * the same with nothing stored (each event made, signed and POSTed), which no delivery beats.
 * --rounds N (default 1, as runs before 2026-11-28): every row N times, showing medians. The
 * key rows run round by round, each round with its own two raw-POST baselines, and a row's
 * ratio is the median of its rounds' ratios (an extra column gives their least and greatest);
 * each steady rate runs its delivery and its raw POSTs N times in turn, the p50, p99 and CPU
 * are the medians (an extra column gives the p99s' least and greatest), the counts are totals.
 * This machine's speed drifts by a third from run to run; a round's ratio drifts far less.
 * --only keys: only the key-count rows and their two raw-POST baselines; --only steady:
 * only the steady table (the raw-POST baselines of the key rows are skipped).
 * --receiver inline (default): the receiver is an HTTP server in this process, as in
 * older runs; --receiver process: it runs in a child Node process (127.0.0.1, port 0),
 * counts requests and tells the count on GET /count. The CPU column is this process's
 * only, so with a child receiver it leaves out the receiver's work.
 * --threads one (default): the producer and a started WebhookDelivery (it enqueues and
 * delivers) share one thread, as in older runs; --threads node: as `npm start` runs a node,
 * the main thread's WebhookDelivery is not started (it only enqueues) and posts each inline
 * run its enqueues start (runInlineWith) to a delivery thread (support/bench-delivery-thread.ts),
 * whose started WebhookDelivery (same Redis, KeySpace prefix and options) sends them and
 * takes the BullMQ jobs, and reports back the deliveries, their latencies, the inline runs
 * and the holds by per-URL limits. Each row has its own pair, closed at its end. The CPU
 * column is the process's, so it covers both threads; the receiver (inline) and the raw-POST
 * baselines stay on the main thread.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ParticipantInfo, Room, WebhookEvent } from '@livekit/protocol';
import pino from 'pino';
import { createRedis, type RedisClient } from '../lib/redis/connection';
import { KeySpace } from '../lib/redis/keys';
import { PrivateRedis } from '../lib/redis/server';
import { WebhookDelivery, webhookLaneId } from '../lib/webhooks/delivery';
import { eventKey } from '../lib/webhooks/event-key';
import { httpPost, type Answer } from '../lib/webhooks/http-post';
import type { WebhookMetrics } from '../lib/webhooks/metrics';
import { WEBHOOK_DEFAULTS, type WebhookOptions } from '../lib/webhooks/options';
import { signWebhookSync } from '../lib/webhooks/signing';
import { SpareSlotFlags } from '../lib/webhooks/spare-slots';
import { DeliveryThread } from './support/bench-delivery-thread';
import { fmt, printTable } from './support/table';

const { values } = parseArgs({ options: {
  events: { type: 'string', default: '5000' }, concurrency: { type: 'string', default: '100' }, seconds: { type: 'string', default: '10' },
  'max-in-flight': { type: 'string' }, only: { type: 'string' }, rates: { type: 'string', default: '1000,3000' }, keys: { type: 'string', default: '1,100,10000' },
  receiver: { type: 'string', default: 'inline' }, threads: { type: 'string', default: 'one' }, warmup: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '1' },
} });
const ONLY = values.only ?? '';
if (!['', 'keys', 'steady'].includes(ONLY)) throw new Error(`--only: keys or steady, not ${ONLY}`);
const RECEIVER = values.receiver;
if (RECEIVER !== 'inline' && RECEIVER !== 'process') throw new Error(`--receiver: inline or process, not ${RECEIVER}`);
const THREADS = values.threads;
if (THREADS !== 'one' && THREADS !== 'node') throw new Error(`--threads: one or node, not ${THREADS}`);
const EVENTS = Number(values.events);
const CONCURRENCY = Number(values.concurrency);
const SECONDS = Number(values.seconds);
const WARMUP = Number(values.warmup);
const ROUNDS = Number(values.rounds);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds: a whole number from 1, not ${values.rounds}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The median (the mean of the middle two of an even count). */
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** Calls `send(i)` for i from 0 to count - 1, CONCURRENCY calls at once. */
async function atOnce(count: number, send: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let i = next++; i < count; i = next++) await send(i);
  }));
}
/**
 * Calls `send(i)` for i from 0 to count - 1 at `perSecond`, starting the ones due every 2 ms;
 * with `waitForEach`, the ones started together are waited for before the next are due (a
 * producer waiting for its enqueues). Resolves once every call has ended.
 */
async function paced(perSecond: number, count: number, send: (i: number) => Promise<unknown>, waitForEach: boolean): Promise<void> {
  const start = Date.now();
  const started: Promise<unknown>[] = [];
  let sent = 0;
  while (sent < count) {
    const due = Math.min(count, Math.floor(((Date.now() - start) / 1000) * perSecond));
    const batch: Promise<unknown>[] = [];
    for (; sent < due; sent++) batch.push(send(sent));
    if (waitForEach) await Promise.all(batch);
    else started.push(...batch);
    await sleep(2);
  }
  await Promise.all(started);
}
/** A row's runs over its rounds: started inline, and handed on to BullMQ jobs by reason. */
interface RunCounts { inline: WebhookMetrics['inline']; holds: number }
const runCounts = (rounds: RunCounts[]) => {
  const handedOn = new Map<string, number>();
  for (const r of rounds) for (const [why, n] of Object.entries(r.inline.handedOn)) handedOn.set(why, (handedOn.get(why) ?? 0) + n);
  const started = rounds.reduce((n, r) => n + r.inline.started, 0);
  return `${fmt(started)} / ${[...handedOn].filter(([, n]) => n > 0).map(([why, n]) => `${fmt(n)} ${why}`).join(', ') || '0'}`;
};
/** With several rounds, a cell of the least and greatest of their figures (none with one round). */
const range = (xs: number[], digits: number) => (ROUNDS > 1 ? [`${fmt(Math.min(...xs), digits)}-${fmt(Math.max(...xs), digits)}`] : []);
/** The p-th percentile of some latencies (sorts them). */
const percentile = (xs: number[], p: number) => {
  xs.sort((a, b) => a - b);
  return xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
};
/** Runs `work`, which records latencies (ms): their p50 and p99, and the process's CPU (cores) meanwhile. */
async function timed(work: (latencies: number[]) => Promise<void>): Promise<{ p50: number; p99: number; cpu: number }> {
  const latencies: number[] = [];
  const cpu0 = process.cpuUsage();
  const start = Date.now();
  await work(latencies);
  const cpu = process.cpuUsage(cpu0);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), cpu: (cpu.user + cpu.system) / 1000 / (Date.now() - start) };
}

/** The local receiver: its hook URL, the requests it has answered, and how to stop it. */
interface Receiver { url: string; received(): Promise<number>; close(): Promise<void> }

/** An HTTP server in this process (as in older runs). */
async function inlineReceiver(): Promise<Receiver> {
  let received = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => { received++; res.writeHead(200).end(); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received: async () => received,
    close: async () => { server.close(); },
  };
}

// the same server in a child: prints its port, answers GET /count with the requests it
// counted (GET /count itself is not counted), exits when the parent's end of stdin closes
const CHILD_RECEIVER = `
const http = require('node:http');
let received = 0;
const server = http.createServer((req, res) => {
  req.resume();
  if (req.url === '/count') { req.on('end', () => res.writeHead(200, { 'Content-Type': 'text/plain' }).end(String(received))); return; }
  req.on('end', () => { received++; res.writeHead(200).end(); });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

/** The receiver in a child Node process; its count is read over HTTP (GET /count). */
async function processReceiver(): Promise<Receiver> {
  const child = spawn(process.execPath, ['-e', CHILD_RECEIVER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('the receiver process did not report its port within 10 s')), 10_000);
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const nl = out.indexOf('\n');
        if (nl >= 0) { clearTimeout(timer); resolve(Number(out.slice(0, nl))); }
      });
      child.once('error', (e) => { clearTimeout(timer); reject(e); });
      child.once('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`the receiver process exited (${code ?? signal}) before reporting its port`)); });
    });
  } catch (e) {
    child.kill();
    throw e;
  }
  child.stdout.resume();
  // its own connection, apart from httpPost's pool
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received: () => new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/count', agent }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { text += c; });
        res.on('end', () => resolve(Number(text)));
        res.on('error', reject);
      }).on('error', reject);
    }),
    close: async () => {
      agent.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill();
      await exited;
    },
  };
}

/** A row's delivery, on one thread or on two: what the rows use of it. */
interface BenchDelivery {
  queueNotify(event: WebhookEvent): Promise<void>;
  /** Deliveries made so far (throws if the delivery thread failed). */
  delivered(): number;
  /** Calls `listener` with each delivery's enqueue-to-delivery latency (ms). */
  onDelivery(listener: (latencyMs: number) => void): void;
  /** Inline runs started and runs handed to BullMQ jobs (final once closed). */
  inline(): WebhookMetrics['inline'];
  /** Pickups held by per-URL limits (final once closed). */
  limitHolds(): WebhookMetrics['limitHolds'];
  close(): Promise<void>;
}

/** What a row's delivery is made of: a fresh KeySpace prefix on the bench's Redis. */
interface DeliverySetup { redis: RedisClient; redisUrl: string; prefix: string; shards: number; options: WebhookOptions }

/** --threads one: a started WebhookDelivery, enqueueing and delivering on this thread (as in older runs). */
async function oneThreadDelivery(s: DeliverySetup): Promise<BenchDelivery> {
  const d = new WebhookDelivery(s.redis, s.redisUrl, new KeySpace(s.prefix, s.shards), s.options, pino({ level: 'silent' }));
  await d.start({ concurrency: CONCURRENCY });
  return {
    queueNotify: (event) => d.queueNotify(event),
    delivered: () => d.metrics.delivered,
    onDelivery: (listener) => d.metrics.onDelivery(listener),
    inline: () => d.metrics.inline,
    limitHolds: () => d.metrics.limitHolds,
    close: () => d.close(),
  };
}

/**
 * --threads node: as `npm start` (lib/node/main.ts, jobs-thread.ts): this thread's
 * WebhookDelivery only enqueues and posts its inline runs to a delivery thread, whose
 * started WebhookDelivery sends them and reports its counts.
 */
async function nodeThreadsDelivery(s: DeliverySetup): Promise<BenchDelivery> {
  const spareSlots = new SpareSlotFlags(s.options.urls);
  const thread = await DeliveryThread.start({ redisUrl: s.redisUrl, prefix: s.prefix, shards: s.shards, options: s.options, concurrency: CONCURRENCY, spareSlots: spareSlots.buffer });
  const d = new WebhookDelivery(s.redis, s.redisUrl, new KeySpace(s.prefix, s.shards), s.options, pino({ level: 'silent' }));
  d.runInlineWith((runId, run, dropped, slotAt) => thread.runInline(runId, run, dropped, slotAt), (url) => spareSlots.has(url));
  return {
    queueNotify: (event) => d.queueNotify(event),
    delivered: () => thread.delivered(),
    onDelivery: (listener) => thread.onDelivery(listener),
    inline: () => thread.inline(),
    limitHolds: () => thread.limitHolds(),
    close: async () => {
      await d.close();
      await thread.close();
    },
  };
}

async function main() {
  const receiver = RECEIVER === 'process' ? await processReceiver() : await inlineReceiver();
  try {
    await bench(receiver);
  } finally {
    await receiver.close();
  }
}

async function bench(receiver: Receiver) {
  const url = receiver.url;
  const redisServer = await PrivateRedis.start();
  const redis = createRedis(redisServer.url);
  let run = 0;
  const options: WebhookOptions = {
    ...WEBHOOK_DEFAULTS, ...(values['max-in-flight'] ? { maxInFlight: Number(values['max-in-flight']) } : {}), urls: [url], includeEvents: [], excludeEvents: [], apiKey: 'bench', apiSecret: 'bench-secret-bench-secret-bench-secret',
  };
  // each row its own delivery (a pair with --threads node), on a fresh KeySpace prefix, started
  const delivery = () => (THREADS === 'node' ? nodeThreadsDelivery : oneThreadDelivery)({ redis, redisUrl: redisServer.url, prefix: `b${++run}`, shards: 4, options });
  const event = (key: number, i: number) => new WebhookEvent({ event: 'participant_joined', room: new Room({ name: `room-${key}` }), participant: new ParticipantInfo({ identity: `p${i}` }) });
  /** A body POSTed as a delivery sends it, signed for this attempt. */
  const signedPost = (json: string) =>
    httpPost(url, json, { 'Content-Type': 'application/webhook+json', Authorization: signWebhookSync(json, options.apiKey, options.apiSecret) }, 10_000);
  /**
   * The floor's work for event i (id `id`): made, written by the enqueue script to a lane of
   * `keys` that no run drains; resolves, once Redis holds it, with its signed POST to send and
   * when it was queued (made, before the enqueue: as a delivery stamps its events).
   */
  const floorEnqueue = async (keys: KeySpace, id: string, i: number): Promise<{ post: () => Promise<Answer>; enqueuedAt: number }> => {
    const ev = event(i % 100, i);
    ev.id = id;
    const json = ev.toJsonString();
    const lane = keys.webhookLane(webhookLaneId(url, eventKey(ev)));
    const enqueuedAt = Date.now();
    await redis.enqueueWebhook(lane.fifo, lane.events, lane.seen, lane.run, options.dedupeWindowMs, 'floor', `${id}.0`, JSON.stringify({ url, event: json, enqueuedAt }));
    return { post: () => signedPost(json), enqueuedAt };
  };

  /**
   * The ceiling's work for event i: made (stamped as a delivery stamps it), signed and
   * POSTed, nothing stored: what no delivery, durable or not, beats with this producer.
   */
  const ceilingPost = (id: string, i: number): { post: Promise<Answer>; enqueuedAt: number } => {
    const ev = event(i % 100, i);
    ev.id = id;
    const enqueuedAt = Date.now();
    const json = ev.toJsonString();
    return { post: signedPost(json), enqueuedAt };
  };

  try {
    const body = event(0, 0).toJsonString();
    if (WARMUP > 0) {
      // unmeasured: raw POSTs and a delivery, so neither side is timed while its code is still
      // being compiled (the first rows of a cold process ran well below the later ones)
      await atOnce(WARMUP, () => httpPost(url, body, { 'Content-Type': 'application/webhook+json' }, 10_000));
      for (let i = 0; i < Math.min(WARMUP, 500); i++) await httpPost(url, body, { 'Content-Type': 'application/webhook+json' }, 10_000);
      const d = await delivery();
      const before = await receiver.received();
      for (let i = 0; i < WARMUP; i += 500) {
        await Promise.all(Array.from({ length: Math.min(500, WARMUP - i) }, (_, j) => d.queueNotify(event((i + j) % 100, i + j))));
      }
      while ((await receiver.received()) - before < WARMUP) await new Promise((r) => setTimeout(r, 5));
      await d.close();
    }
    // with --rounds N, every row runs N times (the key rows round by round, each beside its
    // round's baselines; a steady rate's delivery and raw POSTs N times in turn), and shows the
    // median: this machine's speed drifts by a third between runs, a round's ratio much less
    const rows: (string | number)[][] = [['what', 'deliveries/s', 'vs raw POSTs', 'vs raw POSTs one at a time', ...(ROUNDS > 1 ? ['vs raw POSTs, min-max'] : []), 'vs floor', 'runs inline / handed to jobs (held by limits)']];
    if (ONLY !== 'steady') {
      const keyCounts = values.keys.split(',').map(Number);
      const baselines: number[] = [];
      const serialBaselines: number[] = [];
      const floors: number[] = [];
      const ceilings: number[] = [];
      const rates = new Map<number, number[]>(keyCounts.map((k) => [k, []]));
      const runs = new Map<number, RunCounts[]>(keyCounts.map((k) => [k, []]));
      const serialPosts = Math.min(EVENTS, 2000);
      for (let round = 0; round < ROUNDS; round++) {
        // baseline: the same receiver, raw POSTs of a signed-size body, same concurrency
        let t0 = Date.now();
        await atOnce(EVENTS, () => httpPost(url, body, { 'Content-Type': 'application/webhook+json' }, 10_000));
        baselines.push(EVENTS / ((Date.now() - t0) / 1000));
        // one key's events go out one after another: its baseline is a loop of raw POSTs
        t0 = Date.now();
        for (let i = 0; i < serialPosts; i++) await httpPost(url, body, { 'Content-Type': 'application/webhook+json' }, 10_000);
        serialBaselines.push(serialPosts / ((Date.now() - t0) / 1000));
        // a floor for any durable delivery: each event made, written by the enqueue script (to
        // lanes no run drains), signed and POSTed, as many at once: no order, no lane advanced
        const floorKeys = new KeySpace(`floor${round}`, 4);
        t0 = Date.now();
        await atOnce(EVENTS, async (i) => {
          const { post } = await floorEnqueue(floorKeys, `EV_floor_${round}_${i}`, i);
          await post();
        });
        floors.push(EVENTS / ((Date.now() - t0) / 1000));
        // the ceiling: the same with nothing stored
        t0 = Date.now();
        await atOnce(EVENTS, (i) => ceilingPost(`EV_ceiling_${round}_${i}`, i).post);
        ceilings.push(EVENTS / ((Date.now() - t0) / 1000));

        for (const keys of keyCounts) {
          const d = await delivery();
          const total = keys === 1 ? serialPosts : EVENTS;
          const before = await receiver.received();
          t0 = Date.now();
          for (let i = 0; i < total; i += 500) {
            await Promise.all(Array.from({ length: Math.min(500, total - i) }, (_, j) => d.queueNotify(event((i + j) % keys, i + j))));
          }
          // counted by the receiver; d.delivered() is asked too, as it throws if the delivery thread failed
          while ((await receiver.received()) - before < total) {
            d.delivered();
            await sleep(5);
          }
          rates.get(keys)!.push(total / ((Date.now() - t0) / 1000));
          await d.close();
          runs.get(keys)!.push({ inline: d.inline(), holds: d.limitHolds().inFlight + d.limitHolds().rate });
        }
      }
      const ratios = (xs: number[], to: number[]) => xs.map((x, i) => x / to[i]);
      const spread = (rs: number[]) => range(rs, 2);
      for (const keys of keyCounts) {
        const r = rates.get(keys)!;
        rows.push([`ordered delivery, ${fmt(keys)} key(s), ${fmt(keys === 1 ? serialPosts : EVENTS)} events (enqueue included)`, fmt(median(r)),
          fmt(median(ratios(r, baselines)), 2), keys === 1 ? fmt(median(ratios(r, serialBaselines)), 2) : '', ...spread(ratios(r, baselines)), fmt(median(ratios(r, floors)), 2), `${runCounts(runs.get(keys)!)} (${fmt(runs.get(keys)!.reduce((n, c) => n + c.holds, 0))})`]);
      }
      rows.push([`raw POSTs (node:http, keep-alive), ${CONCURRENCY} at once (baseline)`, fmt(median(baselines)), '1.00', '', ...spread(baselines.map(() => 1)), fmt(median(ratios(baselines, floors)), 2)]);
      rows.push([`floor: event made, enqueue script, signed POST, ${CONCURRENCY} at once (no lane run, no order)`, fmt(median(floors)),
        fmt(median(ratios(floors, baselines)), 2), '', ...spread(ratios(floors, baselines)), '1.00']);
      rows.push([`ceiling: event made, signed POST, ${CONCURRENCY} at once (nothing stored)`, fmt(median(ceilings)),
        fmt(median(ratios(ceilings, baselines)), 2), '', ...spread(ratios(ceilings, baselines)), fmt(median(ratios(ceilings, floors)), 2)]);
      rows.push([`raw POSTs (node:http, keep-alive), one at a time, ${fmt(serialPosts)} (baseline for 1 key)`, fmt(median(serialBaselines)),
        fmt(median(ratios(serialBaselines, baselines)), 2), '1.00', ...spread(ratios(serialBaselines, baselines))]);
    }

    // latency at a steady rate, 100 keys
    const steadyRows: (string | number)[][] = [['steady load', 'events', 'p50 enqueue-to-delivery (ms)', 'p99 (ms)', 'process CPU (cores)', 'held by per-URL limits', 'runs inline / handed to jobs',
      ...(ROUNDS > 1 ? ['p99 min-max (ms)'] : [])]];
    // an Authorization header of a realistic length (this bench's signed JWT is 205 characters), no signing
    const rawHeaders = { 'Content-Type': 'application/webhook+json', Authorization: `Bearer ${'x'.repeat(300)}` };
    for (const perSecond of ONLY === 'keys' ? [] : values.rates.split(',').map(Number)) {
      const steady = SECONDS * perSecond;
      const ours: (RunCounts & { p50: number; p99: number; cpu: number })[] = [];
      const raw: { p50: number; p99: number; cpu: number; failed: number; firstError: unknown }[] = [];
      const floor: { p50: number; p99: number; cpu: number }[] = [];
      const ceiling: { p50: number; p99: number; cpu: number }[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const d = await delivery();
        const times = await timed(async (latencies) => {
          // every delivery's latency (the metrics keep only the latest 10,000)
          d.onDelivery((ms) => latencies.push(ms));
          await paced(perSecond, steady, (i) => d.queueNotify(event(i % 100, i)), true);
          while (d.delivered() < steady) await sleep(5);
        });
        await d.close();
        ours.push({ ...times, holds: d.limitHolds().inFlight + d.limitHolds().rate, inline: d.inline() });

        // the same schedule of raw POSTs: does the machine carry this rate with this receiver?
        let failed = 0;
        let firstError: unknown;
        const rawTimes = await timed((latencies) => paced(perSecond, steady, async () => {
          const t = performance.now();
          await httpPost(url, body, rawHeaders, 10_000).then(
            () => { latencies.push(performance.now() - t); },
            (e) => { failed++; firstError ??= e; },
          );
        }, false));
        raw.push({ ...rawTimes, failed, firstError });

        // the floor on the same schedule: each event made, written by the enqueue script (to
        // lanes no run drains), then signed and POSTed, timed as a delivery is (from
        // before its enqueue to the receiver's answer): what any durable delivery could keep
        const floorKeys = new KeySpace(`steady-floor${perSecond}-${round}`, 4);
        floor.push(await timed(async (latencies) => {
          const posts: Promise<void>[] = [];
          await paced(perSecond, steady, async (i) => {
            const { post, enqueuedAt } = await floorEnqueue(floorKeys, `EV_steady_floor_${round}_${i}`, i);
            posts.push(post().then(() => { latencies.push(Date.now() - enqueuedAt); }));
          }, true);
          await Promise.all(posts);
        }));

        // the ceiling on the same schedule: the floor without Redis (made, signed, POSTed)
        ceiling.push(await timed((latencies) => paced(perSecond, steady, (i) => {
          const { post, enqueuedAt } = ceilingPost(`EV_steady_ceiling_${round}_${i}`, i);
          return post.then(() => { latencies.push(Date.now() - enqueuedAt); });
        }, false)));
      }
      const med = <T>(xs: T[], f: (x: T) => number) => median(xs.map(f));
      steadyRows.push([`${fmt(perSecond)} events/s for ${SECONDS} s, 100 keys`, fmt(steady * ROUNDS), fmt(med(ours, (o) => o.p50)), fmt(med(ours, (o) => o.p99)), fmt(med(ours, (o) => o.cpu), 2),
        fmt(ours.reduce((n, o) => n + o.holds, 0)), runCounts(ours), ...range(ours.map((o) => o.p99), 0)]);
      // a failed POST (a kept-alive socket closed as it was reused, say) is shown, not hidden: the row stands
      const failed = raw.reduce((n, r) => n + r.failed, 0);
      const firstError = raw.find((r) => r.failed > 0)?.firstError;
      const failures = failed > 0 ? `; ${fmt(failed)} failed, the first with ${(firstError as Error)?.message ?? firstError}` : '';
      steadyRows.push([`raw POSTs at ${fmt(perSecond)}/s (baseline${failures})`, fmt(steady * ROUNDS), fmt(med(raw, (r) => r.p50), 2), fmt(med(raw, (r) => r.p99), 2), fmt(med(raw, (r) => r.cpu), 2), '', '', ...range(raw.map((r) => r.p99), 2)]);
      steadyRows.push([`floor at ${fmt(perSecond)}/s: event made, enqueued, signed POST (no lane run)`, fmt(steady * ROUNDS), fmt(med(floor, (r) => r.p50)), fmt(med(floor, (r) => r.p99)), fmt(med(floor, (r) => r.cpu), 2), '', '', ...range(floor.map((r) => r.p99), 0)]);
      steadyRows.push([`ceiling at ${fmt(perSecond)}/s: event made, signed POST (nothing stored)`, fmt(steady * ROUNDS), fmt(med(ceiling, (r) => r.p50)), fmt(med(ceiling, (r) => r.p99)), fmt(med(ceiling, (r) => r.cpu), 2), '', '', ...range(ceiling.map((r) => r.p99), 0)]);
    }
    const receiverHere = RECEIVER === 'inline' ? ', receiver' : '';
    const where = THREADS === 'node'
      ? `(main thread: producer enqueueing${receiverHere}; delivery thread: BullMQ worker with concurrency ${CONCURRENCY}, inline runs); delivery: API thread + delivery thread, as npm start`
      : `(producer, BullMQ worker with concurrency ${CONCURRENCY}${receiverHere}); delivery: one thread`;
    const receiverIs = RECEIVER === 'process' ? 'receiver: process (a child Node process)' : 'receiver: inline (in this process)';
    console.log(`\nwebhook delivery, one Node process ${where}; ${receiverIs}\n`);
    if (rows.length > 1) printTable(rows);
    if (rows.length > 1 && steadyRows.length > 1) console.log('');
    if (steadyRows.length > 1) printTable(steadyRows);
  } finally {
    await redis.quit();
    await redisServer.stop();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
