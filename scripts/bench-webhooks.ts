/**
 * Webhook deliveries per second to a local receiver with 1, 100 and 10,000 distinct keys,
 * beside raw HTTP POSTs to the same receiver from the same process at the same
 * concurrency (and, for 1 key, whose events go out one after another, beside raw POSTs
 * one at a time), and the p50 / p99 enqueue-to-delivery latency at a steady 1,000 and
 * 3,000 events/s.
 *
 * The steady rows also give the process's CPU (cores), the runs held by per-URL limits and
 * the runs sent inline or handed to BullMQ jobs.
 *
 *   npm run bench:webhooks [-- --events 5000 --concurrency 100 --seconds 10]
 *     [--keys 1,100,10000] [--rates 1000,3000] [--only steady] [--max-in-flight N (0: off)]
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
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
} });
const ONLY = values.only ?? '';
const EVENTS = Number(values.events);
const CONCURRENCY = Number(values.concurrency);
const SECONDS = Number(values.seconds);

async function main() {
  let received = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => { received++; res.writeHead(200).end(); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const redisServer = await PrivateRedis.start();
  const redis = createRedis(redisServer.url);
  let run = 0;
  const delivery = () => new WebhookDelivery(redis, redisServer.url, new KeySpace(`b${++run}`, 4), {
    ...WEBHOOK_DEFAULTS, ...(values['max-in-flight'] ? { maxInFlight: Number(values['max-in-flight']) } : {}), urls: [url], includeEvents: [], excludeEvents: [], apiKey: 'bench', apiSecret: 'bench-secret-bench-secret-bench-secret',
  }, pino({ level: 'silent' }));
  const event = (key: number, i: number) => new WebhookEvent({ event: 'participant_joined', room: new Room({ name: `room-${key}` }), participant: new ParticipantInfo({ identity: `p${i}` }) });

  try {
    // baseline: the same receiver, raw POSTs of a signed-size body, same concurrency
    const body = event(0, 0).toJsonString();
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

    const rows: (string | number)[][] = [['what', 'deliveries/s', 'vs raw POSTs', 'vs raw POSTs one at a time']];
    for (const keys of ONLY === 'steady' ? [] : values.keys.split(',').map(Number)) {
      const d = delivery();
      await d.start({ concurrency: CONCURRENCY });
      const total = keys === 1 ? Math.min(EVENTS, 2000) : EVENTS;
      const before = received;
      t0 = Date.now();
      for (let i = 0; i < total; i += 500) {
        await Promise.all(Array.from({ length: Math.min(500, total - i) }, (_, j) => d.queueNotify(event((i + j) % keys, i + j))));
      }
      while (received - before < total) await new Promise((r) => setTimeout(r, 5));
      const rate = total / ((Date.now() - t0) / 1000);
      rows.push([`ordered delivery, ${fmt(keys)} key(s), ${fmt(total)} events (enqueue included)`, fmt(rate), fmt(rate / baseline, 2), keys === 1 ? fmt(rate / serialBaseline, 2) : '']);
      await d.close();
    }
    rows.push([`raw POSTs (node:http, keep-alive), ${CONCURRENCY} at once (baseline)`, fmt(baseline), '1.00', '']);
    rows.push([`raw POSTs (node:http, keep-alive), one at a time, ${fmt(serialPosts)} (baseline for 1 key)`, fmt(serialBaseline), fmt(serialBaseline / baseline, 2), '1.00']);

    // latency at a steady rate, 100 keys
    const steadyRows: (string | number)[][] = [['steady load', 'events', 'p50 enqueue-to-delivery (ms)', 'p99 (ms)', 'process CPU (cores)', 'held by per-URL limits', 'runs inline / handed to jobs']];
    for (const perSecond of values.rates.split(',').map(Number)) {
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
    }

    console.log(`\nwebhook delivery, one Node process (producer, BullMQ worker with concurrency ${CONCURRENCY}, receiver)\n`);
    printTable(rows);
    console.log('');
    printTable(steadyRows);
  } finally {
    await redis.quit();
    await redisServer.stop();
    server.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
