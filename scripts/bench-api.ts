/**
 * One coordinator node process (`npm start`'s entry point) measured over HTTP, as SFUs would
 * drive it: the events/s it takes at full load in batches (target >= 20,000 events/s in
 * batches of 100) and its request latency at a steady 2,000 events/s (target p99 < 20 ms).
 * On a small, noisy machine absolute figures drift from run to run, so each figure stands
 * beside baselines taken in the same run on the same cores: the same batches POSTed to a
 * trivial node:http + JSON.parse server in its own process (the HTTP + JSON ceiling), and
 * redis-benchmark on the same redis-server. CPU % is per process (100 = one core), which
 * tells whether the node is busy or waiting; EVALSHA / XADD per event (INFO commandstats) tell
 * how many Redis round trips an event costs. The node flushes stats every FLUSH_INTERVAL
 * (30 s) in its own event loop: a flush that lands inside a row shows in its p99 and max.
 * The steady rows run first, on the set-up population only, so the flush they meet is the
 * one that load makes (about 60,000 stats per 30 s), not the backlog of the full-load rows.
 *
 *   npm run bench:api [-- --seconds 10 --concurrency 16 --profile /tmp/prof] [--wait-replicas 1]
 *
 * `--wait-replicas 1` gives the redis-server a replica and runs a second node process with
 * REDIS_WAIT_REPLICAS=1 beside the first: each row is measured on both, so the table shows
 * what waiting for the replica costs (both nodes' rows then include the replication itself).
 *
 * `--redis cluster` also starts a local 3-master Redis Cluster (no replicas) and a node on it,
 * set up with the same population, and measures every full-load row on it too: the table
 * then shows one node on a cluster beside one node on one redis-server, in the same run.
 *
 * `--profile DIR` writes the node's CPU profile to DIR when it stops (NODE_OPTIONS may not
 * carry --cpu-prof, so a preload written to DIR runs the inspector's profiler instead).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Timestamp } from '@bufbuild/protobuf';
import { AnalyticsStat, AnalyticsStream, AnalyticsVideoLayer } from '@livekit/protocol';
import { AccessToken } from 'livekit-server-sdk';
import { createRedis } from '../lib/redis/connection';
import { LocalCluster } from '../lib/redis/local-cluster';
import { freePort, PrivateRedis } from '../lib/redis/server';
import { startHttpNode, stopNodeProcess } from '../test/support/processes';
import { redisBenchmark } from './support/redis-benchmark';
import { fmt, printTable } from './support/table';

const { values } = parseArgs({ options: {
  seconds: { type: 'string', default: '10' }, concurrency: { type: 'string', default: '16' },
  profile: { type: 'string' }, 'baseline-server': { type: 'boolean', default: false },
  'wait-replicas': { type: 'string', default: '0' }, redis: { type: 'string', default: 'single' },
} });
if (!['single', 'cluster'].includes(values.redis!)) throw new Error(`--redis ${values.redis}: single or cluster`);
const ON_CLUSTER = values.redis === 'cluster';
const WAIT_REPLICAS = Number(values['wait-replicas']);
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const API_KEY = 'bench-key';
const API_SECRET = 'bench-secret-that-is-long-enough-for-hs256';
const ROOMS = 200;
const PER_ROOM = 5;
const progress = (m: string) => process.stderr.write(`bench:api: ${m}\n`);
const PROFILER = `const { Session } = require('node:inspector'); const s = new Session(); s.connect(); s.post('Profiler.enable'); s.post('Profiler.start');
process.on('exit', () => s.post('Profiler.stop', (e, r) => e || require('node:fs').writeFileSync(__dirname + '/node-' + process.pid + '.cpuprofile', JSON.stringify(r.profile))));`;

/** The baseline, run as a child process: read the body, JSON.parse it, answer one result per event. */
function baselineServer() {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { events: unknown[] };
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ results: body.events.map(() => ({ ok: true })) }));
    });
  });
  server.keepAliveTimeout = 72_000;
  server.listen(0, '127.0.0.1', () => process.send!((server.address() as AddressInfo).port));
}

// --- the batches, serialized up front so the client spends its CPU on sending ----------
const room = (p: number) => ({ sid: `RM_${Math.floor(p / PER_ROOM)}`, name: `room-${Math.floor(p / PER_ROOM)}` });
const participant = (p: number) => ({ sid: `PA_${p}`, identity: `user-${p}` });
const track = (p: number, t: number) => ({ sid: `TR_${p}_${t}`, type: 'VIDEO', source: 'CAMERA', name: 'camera', width: 1280, height: 720, mimeType: 'video/VP8' });
function stat(i: number) {
  const end = Date.now();
  return new AnalyticsStat({ score: 4.2, mime: 'video/VP8', streams: [new AnalyticsStream({
    ssrc: 1000 + i, primaryPackets: 900, primaryBytes: 850_000n, paddingPackets: 3, paddingBytes: 300n, packetsLost: 2, frames: 90,
    rtt: 40, jitter: 12, nacks: 1, startTime: Timestamp.fromDate(new Date(end - 10_000)), endTime: Timestamp.fromDate(new Date(end)),
    videoLayers: [new AnalyticsVideoLayer({ layer: 2, packets: 900, bytes: 850_000n, frames: 90 })],
  })] }).toJson();
}
const people = ROOMS * PER_ROOM;
const trackStats = (i: number) => {
  const p = i % people;
  return { method: 'trackStats', roomId: room(p).sid, roomName: room(p).name, key: { streamType: i % 2 ? 'DOWNSTREAM' : 'UPSTREAM', participantId: `PA_${p}`, trackId: `TR_${p}_${i % 4}` }, stat: stat(i) };
};
/** Half stats, half track lifecycle on the participants set up before. */
const lifecycle = (i: number) => {
  const p = (i * 7) % people;
  const base = { room: room(p), participantId: `PA_${p}`, track: track(p, i % 4) };
  switch (i % 8) {
    case 0: return { method: 'trackPublished', ...base, identity: `user-${p}`, shouldSendEvent: true };
    case 1: return { method: 'trackSubscribed', ...base, publisher: participant((p + 1) % people), shouldSendEvent: true };
    case 2: return { method: 'trackMuted', ...base };
    case 3: return { method: 'trackUnmuted', ...base };
    default: return trackStats(i);
  }
};
const bodies = (make: (i: number) => object, size: number, count = 64) =>
  Array.from({ length: count }, (_, b) => Buffer.from(JSON.stringify({ nodeId: 'sfu-bench', events: Array.from({ length: size }, (_, j) => make(b * size + j)) })));

// --- the client ---------------------------------------------------------------------------
type Post = (port: number, body: Buffer) => Promise<void>;
const headers = (token: string) => ({ 'Content-Type': 'application/json', Authorization: `Bearer ${token}` });
function nodeHttpClient(token: string): Post {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
  return (port, body) => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/v1/telemetry', method: 'POST', agent, headers: { ...headers(token), 'Content-Length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks)}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}
function fetchClient(token: string): Post {
  return async (port, body) => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/telemetry`, { method: 'POST', headers: headers(token), body });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text}`);
  };
}

interface Run { requests: number; events: number; secs: number; ms: number[]; cpu: number[] }
const cpuSecs = (pid: number) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / 100; };
const pct = (ms: number[], q: number) => { const s = [...ms].sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.ceil((q / 100) * s.length) - 1)] : NaN; };

/** `fire(deadline)` sends until the deadline; CPU of `pids` over the run, in % of one core. */
async function measure(pids: number[], batch: number, fire: (one: () => Promise<void>, deadline: number) => Promise<void>, post: () => Promise<void>, seconds = SECONDS): Promise<Run> {
  const ms: number[] = [];
  const cpu0 = pids.map(cpuSecs);
  const t0 = performance.now();
  await fire(async () => { const s = performance.now(); await post(); ms.push(performance.now() - s); }, t0 + seconds * 1000);
  const secs = (performance.now() - t0) / 1000;
  return { requests: ms.length, events: ms.length * batch, secs, ms, cpu: pids.map((p, i) => ((cpuSecs(p) - cpu0[i]) / secs) * 100) };
}
/** `concurrency` requests in flight until the deadline. */
const closed = (post: Post, port: number, pool: Buffer[], pids: number[], seconds = SECONDS) => {
  let n = 0;
  return measure(pids, JSON.parse(pool[0].toString()).events.length, async (one, deadline) => {
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => { while (performance.now() < deadline) await one(); }));
  }, () => post(port, pool[n++ % pool.length]), seconds);
};
/** `rate` requests/s on schedule, whatever the answers take (open loop). */
const paced = (post: Post, port: number, pool: Buffer[], pids: number[], rate: number) => {
  let n = 0;
  return measure(pids, JSON.parse(pool[0].toString()).events.length, async (one, deadline) => {
    const inflight: Promise<void>[] = [];
    const t0 = performance.now();
    for (let i = 0; t0 + (i * 1000) / rate < deadline; i++) {
      const wait = t0 + (i * 1000) / rate - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      inflight.push(one());
    }
    await Promise.all(inflight);
  }, () => post(port, pool[n++ % pool.length]));
};

async function main() {
  const children: ChildProcess[] = [];
  let node: ChildProcess | undefined;
  /** --wait-replicas: the replica, and the node that waits for it. */
  let replica: PrivateRedis | undefined;
  let waitNode: ChildProcess | undefined;
  /** --redis cluster: the cluster, and the node on it. */
  let cluster: LocalCluster | undefined;
  let clusterNode: ChildProcess | undefined;
  const preload = values.profile && path.resolve(values.profile, 'cpu-prof.cjs');
  const redisServer = await PrivateRedis.start();
  const redis = createRedis(redisServer.url);
  try {
    const redisPid = Number(/process_id:(\d+)/.exec(await redis.info('server'))![1]);
    const baseline = fork(__filename, ['--baseline-server'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(baseline);
    const basePort = await new Promise<number>((r) => baseline.once('message', (m) => r(Number(m))));
    const port = await freePort();
    if (preload) { mkdirSync(values.profile!, { recursive: true }); writeFileSync(preload, PROFILER); }
    progress(`starting the node on :${port}, redis on :${redisServer.port}`);
    node = await startHttpNode({
      PORT: String(port), REDIS_URL: redisServer.url, API_KEY, API_SECRET, LOG_LEVEL: 'warn', FLUSH_INTERVAL: '30s',
      ...(preload ? { NODE_OPTIONS: `--require ${preload}` } : {}),
    });
    const waitPort = await freePort();
    if (WAIT_REPLICAS > 0) {
      replica = await PrivateRedis.start({ extraArgs: ['--replicaof', '127.0.0.1', String(redisServer.port)] });
      while (!/slave0:.*state=online/.test(await redis.info('replication'))) await new Promise((r) => setTimeout(r, 50));
      progress(`replica on :${replica.port}; a second node on :${waitPort} with REDIS_WAIT_REPLICAS=${WAIT_REPLICAS}`);
      waitNode = await startHttpNode({
        PORT: String(waitPort), REDIS_URL: redisServer.url, API_KEY, API_SECRET, LOG_LEVEL: 'warn', FLUSH_INTERVAL: '30s', REDIS_WAIT_REPLICAS: String(WAIT_REPLICAS),
      });
    }
    const clusterPort = await freePort();
    if (ON_CLUSTER) {
      cluster = await LocalCluster.start({ replicasPerMaster: 0 });
      progress(`a 3-master cluster on ${cluster.addresses.join(',')}; a node on it on :${clusterPort}`);
      clusterNode = await startHttpNode({
        PORT: String(clusterPort), REDIS_CLUSTER_ADDRESSES: cluster.addresses.join(','), API_KEY, API_SECRET, LOG_LEVEL: 'warn', FLUSH_INTERVAL: '30s',
      });
    }
    const clusterPids = cluster ? cluster.masters.map((m) => m.pid) : [];
    const waiting = (waitNode ? [[`node, REDIS_WAIT_REPLICAS=${WAIT_REPLICAS}`, waitPort, waitNode.pid!]] : []) as [string, number, number][];
    const at = new AccessToken(API_KEY, API_SECRET, { identity: 'sfu-bench', ttl: '2h' });
    at.addObservabilityGrant({ write: true });
    const token = await at.toJwt();

    progress(`setting up ${ROOMS} rooms x ${PER_ROOM} participants, joined and active`);
    const setup = nodeHttpClient(token);
    for (let p = 0; p < people; p += 50) {
      const events = Array.from({ length: 50 }, (_, j) => [
        { method: 'participantJoined', room: room(p + j), participant: participant(p + j), shouldSendEvent: true, guard: `sig-${p + j}` },
        { method: 'participantActive', room: room(p + j), participant: participant(p + j), isMigration: false, guard: `media-${p + j}` },
      ]).flat();
      await setup(port, Buffer.from(JSON.stringify({ nodeId: 'sfu-bench', events })));
      if (clusterNode) await setup(clusterPort, Buffer.from(JSON.stringify({ nodeId: 'sfu-bench', events })));
    }

    const stats100 = bodies(trackStats, 100);
    const mixed100 = bodies(lifecycle, 100);
    const stats10 = bodies(trackStats, 10, 256);

    progress('which client is faster: node:http keep-alive Agent or global fetch (undici inside), against the baseline server');
    const clients = { 'node:http Agent': nodeHttpClient(token), 'global fetch': fetchClient(token) };
    const clientRate: Record<string, number> = {};
    for (let round = 0; round < 2; round++) { // alternated, best of two: the first runs cold
      for (const [name, c] of Object.entries(clients)) {
        const r = await closed(c, basePort, stats100, [], 2);
        clientRate[name] = Math.max(clientRate[name] ?? 0, r.requests / r.secs);
      }
    }
    const clientName = Object.entries(clientRate).sort((a, b) => b[1] - a[1])[0][0];
    const post = clients[clientName as keyof typeof clients];

    // steady load first: the full-load rows leave more buffered stats than a node flushes in
    // minutes, and that backlog's flush would fall into every later row
    const lat: (string | number)[][] = [['steady 2,000 events/s', 'requests', 'p50 ms', 'p99 ms', 'max ms', 'server CPU %', 'p99 < 20 ms']];
    for (const [what, pool, rate] of [['batches of 100 at 20 req/s', stats100, 20], ['batches of 10 at 200 req/s', stats10, 200]] as const) {
      for (const [who, p, pid] of [['node', port, node.pid!], ...waiting, ['baseline', basePort, baseline.pid!]] as const) {
        progress(`steady load, ${who}, trackStats ${what}: ${SECONDS} s`);
        const r = await paced(post, p, pool, [pid], rate);
        lat.push([`${who === 'baseline' ? '  baseline' : who}, trackStats ${what}`, fmt(r.requests), fmt(pct(r.ms, 50), 1), fmt(pct(r.ms, 99), 1), fmt(Math.max(...r.ms), 1), fmt(r.cpu[0]), who !== 'baseline' ? (pct(r.ms, 99) < 20 ? 'yes' : 'NO') : '']);
      }
    }

    // EVALSHA is only ever a client's call; XADD also counts those inside a flush's script, if one falls in the run
    const calls = async () => { const st = await redis.info('commandstats'); return ['evalsha', 'xadd'].map((c) => Number(new RegExp(`cmdstat_${c}:calls=(\\d+)`).exec(st)?.[1] ?? 0)); };
    const rows: (string | number)[][] = [['what', 'events/s', 'requests/s', 'p50 ms', 'p99 ms', 'server CPU %', 'redis CPU %', 'EVALSHA / XADD per event', 'ours / baseline']];
    // redis CPU: every redis-server of the run (a cluster's masters summed)
    const row = (what: string, r: Run, vs: string, perEvent = '') =>
      rows.push([what, fmt(r.events / r.secs), fmt(r.requests / r.secs), fmt(pct(r.ms, 50), 1), fmt(pct(r.ms, 99), 1), fmt(r.cpu[0]), fmt(r.cpu.slice(1).reduce((a, b) => a + b, 0)), perEvent, vs]);
    const topologies: (string | number)[][] = [['full load, one node', 'one redis-server events/s', '3-master cluster events/s', 'cluster / one server', 'cluster p99 ms', 'cluster redis CPU % (3 masters)']];
    for (const [name, pool] of [['trackStats only', stats100], ['lifecycle mix (1/2 trackStats)', mixed100]] as const) {
      progress(`full load, ${name}: ${SECONDS} s, ${CONCURRENCY} requests of 100 in flight`);
      const before = await calls();
      const ours = await closed(post, port, pool, [node.pid!, redisPid]);
      const perEvent = (await calls()).map((n, i) => fmt((n - before[i]) / ours.events, 2)).join(' / ');
      const base = await closed(post, basePort, pool, [baseline.pid!, redisPid]);
      row(`node, ${name}`, ours, fmt(ours.events / ours.secs / (base.events / base.secs), 2), perEvent);
      for (const [who, p, pid] of waiting) {
        progress(`full load, ${who}, ${name}: ${SECONDS} s`);
        const w = await closed(post, p, pool, [pid, redisPid]);
        row(`${who}, ${name}`, w, fmt(w.events / w.secs / (base.events / base.secs), 2));
      }
      if (clusterNode) {
        progress(`full load, node on the cluster, ${name}: ${SECONDS} s`);
        const c = await closed(post, clusterPort, pool, [clusterNode.pid!, ...clusterPids]);
        row(`node on a 3-master cluster, ${name}`, c, fmt(c.events / c.secs / (base.events / base.secs), 2));
        topologies.push([name, fmt(ours.events / ours.secs), fmt(c.events / c.secs), fmt((c.events / c.secs) / (ours.events / ours.secs), 2),
          fmt(pct(c.ms, 99), 1), fmt(c.cpu.slice(1).reduce((a, b) => a + b, 0))]);
      }
      row('  baseline: node:http + JSON.parse, same batches', base, '1.00');
    }

    progress('redis-benchmark SET and EVALSHA on the same redis-server');
    const sha = (await redis.script('LOAD', "return redis.call('SET', KEYS[1], ARGV[1])")) as string;
    const rb = (cmd: string[], P: number) => redisBenchmark(redisServer.port, cmd, { requests: 200_000, clients: CONCURRENCY * 2, pipeline: P });
    const rbRows = [
      ['redis-benchmark SET, no pipelining', rb(['SET', 'k', 'v'], 1)],
      ['redis-benchmark EVALSHA (a SET), no pipelining', rb(['EVALSHA', sha, '1', 'k', 'v'], 1)],
      ['redis-benchmark EVALSHA (a SET), pipelines of 16', rb(['EVALSHA', sha, '1', 'k', 'v'], 16)],
    ] as const;

    console.log(`\nPOST /v1/telemetry on one node process, ${fmt(people)} participants in ${ROOMS} rooms, ${CONCURRENCY} requests in flight, ${SECONDS} s per row, client: ${clientName}, no WEBHOOK_URLS (no webhook queued)`);
    console.log(`(client against the baseline: ${Object.entries(clientRate).map(([n, r]) => `${n} ${fmt(r)} req/s`).join(', ')}; target >= 20,000 events/s)\n`);
    printTable(rows);
    if (clusterNode) { console.log(''); printTable(topologies); }
    console.log('');
    printTable([['for scale', 'requests/s'], ...rbRows.map(([w, r]) => [w, fmt(r)])]);
    console.log('');
    printTable(lat);
  } finally {
    if (node) await stopNodeProcess(node);
    if (waitNode) await stopNodeProcess(waitNode);
    if (clusterNode) await stopNodeProcess(clusterNode);
    await cluster?.stop();
    if (preload && node) progress(`the node's CPU profile is in ${values.profile}`);
    for (const c of children) c.kill();
    await redis.quit();
    await replica?.stop();
    await redisServer.stop();
  }
}

if (values['baseline-server']) baselineServer();
else main().catch((e) => { console.error(e); process.exit(1); });
