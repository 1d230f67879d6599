/**
 * trackStats calls per second from one process, beside a naive baseline in the same run
 * (one RPUSH of the same stat per call, auto-pipelined), and the wall time to flush
 * N workers x 4 tracks for N = 1,000, 10,000 and 50,000, with the time per worker and the
 * Redis memory a buffered stat takes until its flush.
 *
 *   npm run bench:stats [-- --calls 200000 --inflight 5000 --sizes 1000,10000,50000]
 */
import { parseArgs } from 'node:util';
import { Timestamp } from '@bufbuild/protobuf';
import { AnalyticsStat, AnalyticsStream, AnalyticsVideoLayer } from '@livekit/protocol';
import { loadOptions } from '../lib/config/options';
import { Coordinator } from '../lib/coordinator';
import { createLogger } from '../lib/log';
import { createRedis } from '../lib/redis/connection';
import { PrivateRedis } from '../lib/redis/server';
import type { AnalyticsStatJson } from '../lib/telemetry/types';
import { RecordingNotifier } from '../lib/telemetry/notifier';
import { fmt, printTable } from './support/table';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '200000' },
    inflight: { type: 'string', default: '5000' },
    sizes: { type: 'string', default: '1000,10000,50000' },
  },
});
const CALLS = Number(values.calls);
const INFLIGHT = Number(values.inflight);
const SIZES = values.sizes!.split(',').map(Number);
const TRACKS = 4;

function realisticStat(i: number): AnalyticsStat {
  const end = Date.now();
  return new AnalyticsStat({
    score: 4.2, mime: 'video/VP8',
    streams: [new AnalyticsStream({
      ssrc: 1000 + i, primaryPackets: 900, primaryBytes: 850_000n, paddingPackets: 3, paddingBytes: 300n,
      packetsLost: 2, frames: 90, rtt: 40, jitter: 12, nacks: 1, plis: 0, firs: 0,
      startTime: Timestamp.fromDate(new Date(end - 10_000)), endTime: Timestamp.fromDate(new Date(end)),
      videoLayers: [new AnalyticsVideoLayer({ layer: 2, packets: 900, bytes: 850_000n, frames: 90 })],
    })],
  });
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function main() {
  const server = await PrivateRedis.start();
  const options = loadOptions({ REDIS_URL: server.url, NODE_ID: 'bench', LOG_LEVEL: 'silent', ANALYTICS_MAXLEN: '1000000' });
  const c = new Coordinator({ redis: server.url, options, log: createLogger('silent'), notifier: new RecordingNotifier() });
  const raw = createRedis(server.url);
  try {
    // 1. trackStats into Redis: 1,000 participants x 4 tracks receiving stats
    const people = 1000;
    for (let i = 0; i < people; i++) {
      await c.registry.open({ roomId: `RM_${i % 50}`, participantId: `PA_${i}`, roomName: 'r', identity: `u${i}`, guard: 'g', nodeId: 'sfu' });
    }
    // the protobuf JSON form, as an SFU sends it over HTTP
    const stats = Array.from({ length: 64 }, (_, i) => realisticStat(i).toJson() as AnalyticsStatJson);
    let next = 0;
    const ours = await timed(async () => {
      await Promise.all(Array.from({ length: INFLIGHT }, async () => {
        for (let i = next++; i < CALLS; i = next++) {
          const p = i % people;
          await c.service.trackStats({ roomId: `RM_${p % 50}`, roomName: 'r', key: { streamType: i % 2 ? 'DOWNSTREAM' : 'UPSTREAM', participantId: `PA_${p}`, trackId: `TR_${i % TRACKS}`, track: true }, stat: stats[i % 64] });
        }
      }));
    });
    next = 0;
    const naive = await timed(async () => {
      await Promise.all(Array.from({ length: INFLIGHT }, async () => {
        for (let i = next++; i < CALLS; i = next++) await raw.rpush(`naive:${i % people}`, JSON.stringify(stats[i % 64]));
      }));
    });
    await raw.flushall();

    // 2. flush N workers x 4 tracks (one stat per track and direction buffered)
    const rows: (string | number)[][] = [['workers x 4 tracks', 'stats buffered', 'Redis bytes per buffered stat', 'flush wall time (s)', 'ms per 1,000 workers', 'stats sent']];
    for (const size of SIZES) {
      await raw.flushall();
      for (let i = 0; i < size; i += 500) {
        const batch = c.registry.batch();
        for (let j = i; j < Math.min(size, i + 500); j++) void batch.open({ roomId: `RM_${j % 500}`, participantId: `PA_${j}`, roomName: 'r', identity: 'u', guard: 'g', nodeId: 'sfu' });
        await batch.exec();
      }
      next = 0;
      const total = size * TRACKS;
      const memory = async () => Number(/used_memory:(\d+)/.exec(await raw.info('memory'))![1]);
      const before = await memory();
      await Promise.all(Array.from({ length: INFLIGHT }, async () => {
        for (let i = next++; i < total; i = next++) {
          const w = Math.floor(i / TRACKS);
          // a participant publishing 2 tracks and subscribed to 2
          await c.service.trackStats({ roomId: `RM_${w % 500}`, roomName: 'r', key: { streamType: i % 4 < 2 ? 'UPSTREAM' : 'DOWNSTREAM', participantId: `PA_${w}`, trackId: `TR_${i % TRACKS}`, track: true }, stat: stats[i % 64] });
        }
      }));
      // what a flush interval's stats hold in Redis until the flush: the buffers, the dirty sets, the counters
      const perStat = (await memory() - before) / total;
      const secs = await timed(() => c.service.flushStats());
      const sent = await raw.xlen(c.registry.keys.analyticsStream('stats'));
      rows.push([fmt(size), fmt(total), fmt(perStat, 0), fmt(secs, 2), fmt((secs * 1e6) / size, 0), fmt(sent)]);
    }

    console.log(`\ntrackStats: ${fmt(CALLS)} calls, ${fmt(INFLIGHT)} in flight, 1,000 participants x ${TRACKS} tracks, one Node process\n`);
    printTable([
      ['what', 'calls/s', 'ours / baseline'],
      ['trackStats, stat in protobuf JSON form (buffered per worker, counters, batched per shard)', fmt(CALLS / ours), fmt(naive / ours, 2)],
      ['baseline: JSON.stringify + one RPUSH per call (auto-pipelined)', fmt(CALLS / naive), '1.00'],
    ]);
    console.log('\nflush (all shards at once, one process; coalesce + commit to the analytics stream)\n');
    printTable(rows);
  } finally {
    await raw.quit();
    await c.close();
    await server.stop();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
