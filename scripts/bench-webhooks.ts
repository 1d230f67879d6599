/**
 * Webhook deliveries per second to a local receiver with 1, 100 and 10,000 distinct keys,
 * beside raw HTTP POSTs to the same receiver from the same process at the same
 * concurrency (and, for 1 key, whose events go out one after another, beside raw POSTs
 * one at a time), and the p50 / p99 enqueue-to-delivery latency at a steady 1,000 and
 * 3,000 events/s.
 *
 * The steady rows also give the process's CPU (cores), the runs held by per-URL limits and
 * the runs sent inline or handed to BullMQ jobs. After each rate's delivery row comes a
 * "raw POSTs at N/s (baseline)" row: raw POSTs (httpPost, the same body, plus a fixed
 * 307-character Authorization header, no signing) sent on the same schedule, with each
 * POST's send-to-response p50 / p99 (ms, two decimals) and the process's CPU measured the
 * same way: whether the machine carries that rate at all with this receiver.
 *
 *   npm run bench:webhooks [-- --events 5000 --concurrency 100 --seconds 10]
 *     [--keys 1,100,10000] [--rates 1000,3000] [--only keys|steady] [--max-in-flight N (0: off)]
 *     [--receiver inline|process]
 *
 * --only keys: only the key-count rows and their two raw-POST baselines; --only steady:
 * only the steady table (the raw-POST baselines of the key rows are skipped).
 * --receiver inline (default): the receiver is an HTTP server in this process, as in
 * older runs; --receiver process: it runs in a child Node process (127.0.0.1, port 0),
 * counts requests and tells the count on GET /count. The CPU column is this process's
 * only, so with a child receiver it leaves out the receiver's work.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ParticipantInfo, Room, WebhookEvent } from '@livekit/protocol';
import pino from 'pino';
import { createRedis } from '../lib/redis/connection';
import { KeySpace } from '../lib/redis/keys';
import { PrivateRedis } from '../lib/redis/server';
import { WebhookDelivery } from '../lib/webhooks/delivery';
import { httpPost } from '../lib/webhooks/http-post';
import { WEBHOOK_DEFAULTS } from '../lib/webhooks/options';
import { fmt, printTable } from './support/table';

const { values } = parseArgs({ options: {
  events: { type: 'string', default: '5000' }, concurrency: { type: 'string', default: '100' }, seconds: { type: 'string', default: '10' },
  'max-in-flight': { type: 'string' }, only: { type: 'string' }, rates: { type: 'string', default: '1000,3000' }, keys: { type: 'string', default: '1,100,10000' },
  receiver: { type: 'string', default: 'inline' },
} });
const ONLY = values.only ?? '';
if (!['', 'keys', 'steady'].includes(ONLY)) throw new Error(`--only: keys or steady, not ${ONLY}`);
const RECEIVER = values.receiver;
if (RECEIVER !== 'inline' && RECEIVER !== 'process') throw new Error(`--receiver: inline or process, not ${RECEIVER}`);
const EVENTS = Number(values.events);
const CONCURRENCY = Number(values.concurrency);
const SECONDS = Number(values.seconds);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
  const delivery = () => new WebhookDelivery(redis, redisServer.url, new KeySpace(`b${++run}`, 4), {
    ...WEBHOOK_DEFAULTS, ...(values['max-in-flight'] ? { maxInFlight: Number(values['max-in-flight']) } : {}), urls: [url], includeEvents: [], excludeEvents: [], apiKey: 'bench', apiSecret: 'bench-secret-bench-secret-bench-secret',
  }, pino({ level: 'silent' }));
  const event = (key: number, i: number) => new WebhookEvent({ event: 'participant_joined', room: new Room({ name: `room-${key}` }), participant: new ParticipantInfo({ identity: `p${i}` }) });

  try {
    const body = event(0, 0).toJsonString();
    const rows: (string | number)[][] = [['what', 'deliveries/s', 'vs raw POSTs', 'vs raw POSTs one at a time']];
    if (ONLY !== 'steady') {
      // baseline: the same receiver, raw POSTs of a signed-size body, same concurrency
      let next = 0;
      let t0 = Date.now();
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < EVENTS; i = next++) {
          await httpPost(url, body, { 'Content-Type': 'application/webhook+json' }, 10_000);
        }
      }));
      const baseline = EVENTS / ((Date.now() - t0) / 1000);
      // one key's events go out one after another: its baseline is a loop of raw POSTs
      const serialPosts = Math.min(EVENTS, 2000);
      t0 = Date.now();
      for (let i = 0; i < serialPosts; i++) await httpPost(url, body, { 'Content-Type': 'application/webhook+json' }, 10_000);
      const serialBaseline = serialPosts / ((Date.now() - t0) / 1000);

      for (const keys of values.keys.split(',').map(Number)) {
        const d = delivery();
        await d.start({ concurrency: CONCURRENCY });
        const total = keys === 1 ? Math.min(EVENTS, 2000) : EVENTS;
        const before = await receiver.received();
        t0 = Date.now();
        for (let i = 0; i < total; i += 500) {
          await Promise.all(Array.from({ length: Math.min(500, total - i) }, (_, j) => d.queueNotify(event((i + j) % keys, i + j))));
        }
        while ((await receiver.received()) - before < total) await sleep(5);
        const rate = total / ((Date.now() - t0) / 1000);
        rows.push([`ordered delivery, ${fmt(keys)} key(s), ${fmt(total)} events (enqueue included)`, fmt(rate), fmt(rate / baseline, 2), keys === 1 ? fmt(rate / serialBaseline, 2) : '']);
        await d.close();
      }
      rows.push([`raw POSTs (node:http, keep-alive), ${CONCURRENCY} at once (baseline)`, fmt(baseline), '1.00', '']);
      rows.push([`raw POSTs (node:http, keep-alive), one at a time, ${fmt(serialPosts)} (baseline for 1 key)`, fmt(serialBaseline), fmt(serialBaseline / baseline, 2), '1.00']);
    }

    // latency at a steady rate, 100 keys
    const steadyRows: (string | number)[][] = [['steady load', 'events', 'p50 enqueue-to-delivery (ms)', 'p99 (ms)', 'process CPU (cores)', 'held by per-URL limits', 'runs inline / handed to jobs']];
    // an Authorization header of a realistic length (this bench's signed JWT is 205 characters), no signing
    const rawHeaders = { 'Content-Type': 'application/webhook+json', Authorization: `Bearer ${'x'.repeat(300)}` };
    for (const perSecond of ONLY === 'keys' ? [] : values.rates.split(',').map(Number)) {
      const d = delivery();
      // every delivery's latency (the metrics keep only the latest 10,000)
      const latencies: number[] = [];
      d.metrics.onDelivery((ms) => latencies.push(ms));
      await d.start({ concurrency: CONCURRENCY });
      const steady = SECONDS * perSecond;
      const cpu0 = process.cpuUsage();
      const start = Date.now();
      let sent = 0;
      while (sent < steady) {
        const due = Math.min(steady, Math.floor(((Date.now() - start) / 1000) * perSecond));
        const batch: Promise<void>[] = [];
        for (; sent < due; sent++) batch.push(d.queueNotify(event(sent % 100, sent)));
        await Promise.all(batch);
        await new Promise((r) => setTimeout(r, 2));
      }
      while (d.metrics.delivered < steady) await new Promise((r) => setTimeout(r, 5));
      const cpu = process.cpuUsage(cpu0);
      const cpuShare = (cpu.user + cpu.system) / 1000 / (Date.now() - start);
      await d.close();
      latencies.sort((a, b) => a - b);
      const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
      steadyRows.push([`${fmt(perSecond)} events/s for ${SECONDS} s, 100 keys`, fmt(steady), fmt(pct(50)), fmt(pct(99)), fmt(cpuShare, 2), fmt(d.metrics.limitHolds.inFlight + d.metrics.limitHolds.rate),
        `${fmt(d.metrics.inline.started)} / ${Object.entries(d.metrics.inline.handedOn).filter(([, n]) => n > 0).map(([why, n]) => `${fmt(n)} ${why}`).join(', ') || '0'}`]);

      // the same schedule of raw POSTs: does the machine carry this rate with this receiver?
      const postLatencies: number[] = [];
      let failed = 0;
      let firstError: unknown;
      const posts: Promise<void>[] = [];
      const rawCpu0 = process.cpuUsage();
      const rawStart = Date.now();
      let rawSent = 0;
      while (rawSent < steady) {
        const due = Math.min(steady, Math.floor(((Date.now() - rawStart) / 1000) * perSecond));
        for (; rawSent < due; rawSent++) {
          const t = performance.now();
          posts.push(httpPost(url, body, rawHeaders, 10_000).then(
            () => { postLatencies.push(performance.now() - t); },
            (e) => { failed++; firstError ??= e; },
          ));
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      await Promise.all(posts);
      const rawCpu = process.cpuUsage(rawCpu0);
      const rawCpuShare = (rawCpu.user + rawCpu.system) / 1000 / (Date.now() - rawStart);
      if (failed > 0) throw new Error(`raw POSTs at ${perSecond}/s: ${failed} of ${steady} failed, the first with ${(firstError as Error)?.message ?? firstError}`);
      postLatencies.sort((a, b) => a - b);
      const postPct = (p: number) => postLatencies[Math.min(postLatencies.length - 1, Math.floor((p / 100) * postLatencies.length))];
      steadyRows.push([`raw POSTs at ${fmt(perSecond)}/s (baseline)`, fmt(steady), fmt(postPct(50), 2), fmt(postPct(99), 2), fmt(rawCpuShare, 2), '', '']);
    }

    const where = RECEIVER === 'process'
      ? `(producer, BullMQ worker with concurrency ${CONCURRENCY}); receiver: process (a child Node process)`
      : `(producer, BullMQ worker with concurrency ${CONCURRENCY}, receiver); receiver: inline (in this process)`;
    console.log(`\nwebhook delivery, one Node process ${where}\n`);
    if (rows.length > 1) printTable(rows);
    if (rows.length > 1 && steadyRows.length > 1) console.log('');
    if (steadyRows.length > 1) printTable(steadyRows);
  } finally {
    await redis.quit();
    await redisServer.stop();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
