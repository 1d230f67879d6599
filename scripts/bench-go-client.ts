/**
 * Events/s one SFU client sustains against one coordinator node: the Go client
 * (clients/go, driven by cmd/sfu-bridge) beside TelemetryClient, in the same run, against
 * the same node on the same private redis-server. Each row makes `--events` calls as fast
 * as one caller can and times them until the node answered them all; every call must be
 * applied. The Go rows also give the heap allocations per event (runtime.MemStats).
 *
 *   npx tsx scripts/bench-go-client.ts [-- --events 40000]
 */
import { parseArgs } from 'node:util';
import { AnalyticsStat, AnalyticsStream, Room, TrackInfo, TrackType } from '@livekit/protocol';
import { TelemetryClient } from '../lib/client/telemetry-client';
import { freePort, PrivateRedis } from '../lib/redis/server';
import { startHttpNode, stopNodeProcess } from '../test/support/processes';
import { API_KEY, API_SECRET } from '../test/support/receiver';
import { buildSfuBridge, GoSfuBridge } from './support/go-sfu';
import { fmt, printTable } from './support/table';

const { values } = parseArgs({ options: { events: { type: 'string', default: '40000' } } });
const EVENTS = Number(values.events);

type Mix = 'trackStats' | 'trackMuted';

async function tsRow(url: string, mix: Mix): Promise<{ seconds: number; requests: number }> {
  let requests = 0;
  const c = new TelemetryClient({
    urls: [url], nodeId: `sfu-bench-ts-${mix}`, apiKey: API_KEY, apiSecret: API_SECRET, heartbeatIntervalMs: 0,
    onRequest: (r) => { if (r.events > 0) requests++; },
  });
  const room = new Room({ sid: `RM_bench_ts_${mix}`, name: `bench-ts-${mix}` });
  const tracks = Array.from({ length: 16 }, (_, i) => new TrackInfo({ sid: `TR_bench_${i}`, type: TrackType.VIDEO }));
  const started = performance.now();
  const calls: Promise<void>[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const t = tracks[i % tracks.length];
    calls.push(mix === 'trackStats'
      ? c.trackStats({
        roomId: room.sid, roomName: room.name, key: { streamType: 'UPSTREAM', participantId: 'PA_bench', trackId: t.sid },
        stat: new AnalyticsStat({ roomId: room.sid, participantId: 'PA_bench', trackId: t.sid, score: 4.5, streams: [new AnalyticsStream({ ssrc: 1234, primaryBytes: 112_500n, primaryPackets: 103 })] }),
      })
      : i % 2 === 0 ? c.trackMuted({ room, participantId: 'PA_bench', track: t }) : c.trackUnmuted({ room, participantId: 'PA_bench', track: t }));
  }
  await Promise.all(calls);
  const seconds = (performance.now() - started) / 1000;
  await c.close();
  return { seconds, requests };
}

async function main() {
  const redis = await PrivateRedis.start();
  const port = await freePort();
  const node = await startHttpNode({ PORT: String(port), REDIS_URL: redis.url, API_KEY, API_SECRET, LOG_LEVEL: 'warn', FLUSH_INTERVAL: '2s' });
  const url = `http://127.0.0.1:${port}`;
  const bridge = new GoSfuBridge(buildSfuBridge(), { urls: [url], apiKey: API_KEY, apiSecret: API_SECRET });
  const rows: (string | number)[][] = [['client', 'calls', 'events', 'seconds', 'events/s', 'requests', 'heap allocs / event']];
  try {
    for (const mix of ['trackStats', 'trackMuted'] as Mix[]) {
      const label = mix === 'trackStats' ? 'trackStats' : 'trackMuted / trackUnmuted';
      // in turn, so each has the node to itself; TelemetryClient first, then the Go client
      const ts = await tsRow(url, mix);
      rows.push(['TelemetryClient (TypeScript)', label, fmt(EVENTS), fmt(ts.seconds, 2), fmt(EVENTS / ts.seconds), fmt(ts.requests), '-']);
      const go = await bridge.request({ op: 'bench', events: EVENTS, mix }) as { seconds: number; eventsPerSecond: number; requests: number; mallocsPerEvent: number };
      rows.push(['telemetryclient (Go)', label, fmt(EVENTS), fmt(go.seconds, 2), fmt(go.eventsPerSecond), fmt(go.requests), fmt(go.mallocsPerEvent, 1)]);
    }
  } finally {
    await bridge.stop();
    await stopNodeProcess(node);
    await redis.stop();
  }
  console.log(`one coordinator node (npm start's entry point) on a private redis-server; ${fmt(EVENTS)} calls per row, made as fast as one caller can, timed until all were answered 200`);
  printTable(rows);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
