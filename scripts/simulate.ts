/**
 * A fleet on this machine, to see the product keep LiveKit's promises end to end: three
 * coordinator node processes on one private redis-server, a webhook receiver that
 * verifies every delivery with livekit-server-sdk, and simulated SFU nodes sending
 * realistic traffic through TelemetryClient, round-robin over the three nodes as a load
 * balancer would. Rooms start, participants join, become active, publish, subscribe and
 * send stats; some resume on another SFU, some abort before becoming active, some SFU
 * nodes die without a word (their leases lapse); rooms end.
 *
 * Every webhook the traffic must cause is written down as it happens, with the order it
 * must arrive in (same room = same EventKey); at the end the receiver's record is checked:
 * lost, out of order and duplicates are 0 in a healthy run, and the exit code says so.
 *
 *   npm run simulate [-- --rooms 30 --participants 5 --sfus 4 --die 1 --seconds 30]
 */
import { parseArgs } from 'node:util';
import { AnalyticsStat, AnalyticsStream, ParticipantInfo, Room, TrackInfo, TrackType } from '@livekit/protocol';
import { TelemetryClient } from '../lib/client/telemetry-client';
import { freePort, PrivateRedis } from '../lib/redis/server';
import { startHttpNode, stopNodeProcess } from '../test/support/processes';
import { API_KEY, API_SECRET, TestReceiver } from '../test/webhooks/receiver';
import { fmt, printTable } from './support/table';
import { WebhookLedger, webhookSubject } from './support/webhook-ledger';

const { values } = parseArgs({ options: {
  rooms: { type: 'string', default: '30' },
  participants: { type: 'string', default: '5' },
  sfus: { type: 'string', default: '4' },
  die: { type: 'string', default: '1' },
  seconds: { type: 'string', default: '30' },
  resume: { type: 'string', default: '0.2' },
  abort: { type: 'string', default: '0.1' },
  'stats-interval': { type: 'string', default: '1000' },
  seed: { type: 'string', default: '1' },
} });
const ROOMS = Number(values.rooms);
const PER_ROOM = Number(values.participants);
const SFUS = Number(values.sfus);
const DIE = Number(values.die);
const DURATION_MS = Number(values.seconds) * 1000;
const RESUME = Number(values.resume);
const ABORT = Number(values.abort);
const STATS_MS = Number(values['stats-interval']);
const NODE_LEASE_MS = 3000;
if (!(DIE >= 0 && DIE < SFUS)) throw new Error('--die must leave at least one SFU node alive');

// a seeded generator, so a run's shape can be repeated (its timing cannot)
let seed = Number(values.seed) >>> 0;
const random = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const between = (lo: number, hi: number) => lo + random() * (hi - lo);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Thrown into a participant's flow when the SFU node it talks through has died. */
class SfuGone extends Error {}

class Sfu {
  state: 'alive' | 'dying' | 'dead' = 'alive';
  constructor(readonly id: string, readonly client: TelemetryClient) {}

  get up(): boolean {
    return this.state === 'alive';
  }

  /** A crash after its last acknowledged request: nothing more is sent, no goodbye. */
  async die(): Promise<void> {
    this.state = 'dying';
    await this.client.flushStats();
    this.client.destroy();
    this.state = 'dead';
  }
}

const stats = { sent: 0, latencies: [] as number[], requests: 0, failedRequests: 0, participants: 0, aborted: 0, resumed: 0, orphaned: 0 };
const ledger = new WebhookLedger();
/** Per participant: the subjects that must all arrive for its session to count as matched. */
const sessions: string[][] = [];

async function call(sfu: Sfu, fn: (c: TelemetryClient) => Promise<void>): Promise<void> {
  if (!sfu.up) throw new SfuGone(sfu.id);
  await fn(sfu.client);
  stats.sent++;
}

function liveSfu(sfus: Sfu[], not?: Sfu): Sfu | undefined {
  const live = sfus.filter((s) => s.up && s !== not);
  return live[Math.floor(random() * live.length)];
}

function statOf(room: Room, participantId: string, trackId: string, kbps: number): AnalyticsStat {
  const bytes = Math.round((kbps * 1000 / 8) * (STATS_MS / 1000));
  return new AnalyticsStat({
    roomId: room.sid, roomName: room.name, participantId, trackId, score: between(3.5, 5),
    streams: [new AnalyticsStream({ ssrc: 1000 + Math.floor(random() * 1000), primaryBytes: BigInt(bytes), primaryPackets: Math.ceil(bytes / 1100), nacks: random() < 0.1 ? 1 : 0 })],
  });
}

interface SimRoom {
  room: Room;
  published: TrackInfo[];
  /** Leaves the fleet raises by itself (an SFU died): the room ends after them. */
  awaitedLeaves: string[];
}

async function participantFlow(r: SimRoom, index: number, sfus: Sfu[], stayUntil: number): Promise<void> {
  const { room } = r;
  const info = new ParticipantInfo({ sid: `PA_${room.sid.slice(3)}_${index}`, identity: `${room.name}-u${index}` });
  const subj = (event: string) => `${event}|${room.name}|${info.identity}`;
  const roomStarted = `room_started|${room.name}`;
  const guards: { guard: string; sfu: Sfu }[] = [];
  const tracks: TrackInfo[] = [];
  let home = liveSfu(sfus);
  let active = false;
  let gen = 0;
  const leave = () => (active ? subj('participant_left') : subj('participant_connection_aborted'));
  stats.participants++;
  try {
    if (!home) throw new SfuGone('none alive');
    const sig = `sig-${info.sid}-${gen}`;
    await call(home, (c) => c.participantJoined({ room, participant: info, shouldSendEvent: true, guard: sig }));
    guards.push({ guard: sig, sfu: home });
    if (random() < ABORT) {
      // gave up before the media connection came up
      stats.aborted++;
      await sleep(between(50, 500));
    } else {
      await sleep(between(20, 200));
      await call(home, (c) => c.participantActive({ room, participant: info, isMigration: false, guard: `media-${info.sid}-${gen}` }));
      guards.push({ guard: `media-${info.sid}-${gen}`, sfu: home });
      active = true;
      ledger.expect(subj('participant_joined'));
      ledger.mustPrecede(roomStarted, subj('participant_joined'));
      for (const type of [TrackType.AUDIO, TrackType.VIDEO]) {
        const track = new TrackInfo({ sid: `TR_${info.sid.slice(3)}_${type}`, type, name: type === TrackType.AUDIO ? 'mic' : 'camera' });
        await call(home, (c) => c.trackPublished({ room, participantId: info.sid, identity: info.identity, track, shouldSendEvent: true }));
        tracks.push(track);
        r.published.push(track);
        const published = `track_published|${room.name}|${track.sid}`;
        ledger.expect(published);
        ledger.mustPrecede(subj('participant_joined'), published);
      }
      const subscribed = r.published.filter((t) => !tracks.includes(t));
      for (const track of subscribed) await call(home, (c) => c.trackSubscribed({ room, participantId: info.sid, track, shouldSendEvent: false }));
      let resumeAt = random() < RESUME ? between(Date.now(), stayUntil) : Infinity;
      while (Date.now() < stayUntil) {
        const at = home;
        await Promise.all([
          ...tracks.map((t) => call(at, (c) => c.trackStats({ roomId: room.sid, roomName: room.name, key: { streamType: 'UPSTREAM', participantId: info.sid, trackId: t.sid }, stat: statOf(room, info.sid, t.sid, t.type === TrackType.AUDIO ? 32 : 900) }))),
          ...subscribed.map((t) => call(at, (c) => c.trackStats({ roomId: room.sid, roomName: room.name, key: { streamType: 'DOWNSTREAM', participantId: info.sid, trackId: t.sid }, stat: statOf(room, info.sid, t.sid, t.type === TrackType.AUDIO ? 32 : 600) }))),
        ]);
        if (Date.now() >= resumeAt) {
          // the seed's scenario: the participant reconnects through another SFU node, then
          // the old node lets go of its connections; the session goes on, one leave at the end
          const target = liveSfu(sfus, home);
          if (target) {
            stats.resumed++;
            gen++;
            const sig2 = `sig-${info.sid}-${gen}`;
            await call(target, (c) => c.participantJoined({ room, participant: info, shouldSendEvent: false, guard: sig2 }));
            guards.push({ guard: sig2, sfu: target });
            for (const g of guards.filter((x) => x.sfu === home)) {
              if (home.up) await call(home, (c) => c.participantLeft({ room, participant: info, shouldSendEvent: false, guard: g.guard }));
              guards.splice(guards.indexOf(g), 1);
            }
            home = target;
          }
          resumeAt = Infinity;
        }
        await sleep(STATS_MS);
      }
      for (const track of tracks) {
        await call(home, (c) => c.trackUnpublished({ room, participantId: info.sid, identity: info.identity, track, shouldSendEvent: true }));
        const unpublished = `track_unpublished|${room.name}|${track.sid}`;
        ledger.expect(unpublished);
        ledger.mustPrecede(`track_published|${room.name}|${track.sid}`, unpublished);
      }
    }
    while (guards.length > 0) {
      const g = guards[0];
      await call(g.sfu, (c) => c.participantLeft({ room, participant: info, shouldSendEvent: true, guard: g.guard }));
      guards.shift();
    }
    ledger.expect(leave());
  } catch (e) {
    if (!(e instanceof SfuGone)) throw e;
    // its SFU node died: the fleet releases that node's connections when the lease lapses;
    // connections it held on live nodes close as usual
    stats.orphaned++;
    for (const g of guards.filter((x) => x.sfu.up)) {
      await call(g.sfu, (c) => c.participantLeft({ room, participant: info, shouldSendEvent: true, guard: g.guard })).catch(() => {});
    }
    ledger.expect(leave());
    r.awaitedLeaves.push(leave());
  }
  if (active) ledger.mustPrecede(subj('participant_joined'), leave());
  ledger.mustPrecede(roomStarted, leave());
  ledger.mustPrecede(leave(), `room_finished|${room.name}`);
  sessions.push(active ? [subj('participant_joined'), leave()] : [leave()]);
}

async function roomFlow(n: number, sfus: Sfu[], rx: TestReceiver): Promise<void> {
  await sleep(between(0, DURATION_MS * 0.3));
  const room = new Room({ sid: `RM_${n}`, name: `room-${n}`, creationTime: BigInt(Math.floor(Date.now() / 1000)) });
  const r: SimRoom = { room, published: [], awaitedLeaves: [] };
  const host = liveSfu(sfus)!;
  await call(host, (c) => c.roomStarted({ room }));
  ledger.expect(`room_started|${room.name}`);
  const roomEnd = Date.now() + between(DURATION_MS * 0.4, DURATION_MS * 0.65);
  await Promise.all(Array.from({ length: PER_ROOM }, async (_, i) => {
    await sleep(between(0, DURATION_MS * 0.15));
    await participantFlow(r, i, sfus, roomEnd - between(0, DURATION_MS * 0.1));
  }));
  // a room closes once empty: leaves the fleet raises for a dead SFU node come first
  const deadline = Date.now() + NODE_LEASE_MS * 10;
  while (Date.now() < deadline && !r.awaitedLeaves.every((s) => rx.received.some((e) => webhookSubject(e) === s))) await sleep(100);
  await call(liveSfu(sfus)!, (c) => c.roomEnded({ room }));
  ledger.expect(`room_finished|${room.name}`);
  ledger.mustPrecede(`room_started|${room.name}`, `room_finished|${room.name}`);
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main() {
  const started = Date.now();
  const redis = await PrivateRedis.start();
  const rx = new TestReceiver();
  await rx.start();
  const ports = [await freePort(), await freePort(), await freePort()];
  process.stderr.write(`starting 3 coordinator nodes on redis-server :${redis.port}, webhooks to ${rx.url}\n`);
  const nodes = await Promise.all(ports.map((port) => startHttpNode({
    PORT: String(port), REDIS_URL: redis.url, API_KEY, API_SECRET, WEBHOOK_URLS: rx.url,
    FLUSH_INTERVAL: '2s', NODE_LEASE: `${NODE_LEASE_MS}ms`, WORKER_CLEANUP_WAIT: '10s', LOG_LEVEL: 'warn',
  })));
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const sfus = Array.from({ length: SFUS }, (_, i) => new Sfu(`sfu-${i}`, new TelemetryClient({
    urls, nodeId: `sfu-${i}`, apiKey: API_KEY, apiSecret: API_SECRET, heartbeatIntervalMs: NODE_LEASE_MS / 4, lingerMs: 2,
    onRequest: (r) => {
      if (r.events === 0) return; // a lease heartbeat
      stats.requests++;
      if (r.status === 200) stats.latencies.push(r.ms); else stats.failedRequests++;
    },
  })));
  const progress = setInterval(() => {
    const live = sfus.filter((s) => s.up).length;
    const line = `[${Math.round((Date.now() - started) / 1000)}s] events sent ${fmt(stats.sent)}  requests ${fmt(stats.requests)}  webhooks ${fmt(rx.received.length)}  participants ${stats.participants}  SFU nodes ${live}/${SFUS} alive`;
    process.stderr.write(process.stderr.isTTY ? `\r${line}   ` : `${line}\n`);
  }, process.stderr.isTTY ? 500 : 5000);
  try {
    const deaths = sleep(DURATION_MS * 0.4).then(async () => {
      const victims = [...sfus].sort(() => random() - 0.5).slice(0, DIE);
      for (const v of victims) { process.stderr.write(`\n${v.id} dies without a word\n`); await v.die(); }
    });
    await Promise.all([deaths, ...Array.from({ length: ROOMS }, (_, n) => roomFlow(n, sfus, rx))]);
    for (const s of sfus.filter((x) => x.up)) await s.client.close();
    // deliveries still in flight: wait until every expected webhook came, or 30 s
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && ledger.check(rx.received).lost.length > 0) await sleep(200);
  } finally {
    clearInterval(progress);
    process.stderr.write('\n');
    for (const s of sfus) s.client.destroy();
    await Promise.all(nodes.map((n) => stopNodeProcess(n)));
    await rx.stop();
    await redis.stop();
  }

  const report = ledger.check(rx.received);
  const arrived = new Set(rx.received.map(webhookSubject));
  const matched = sessions.filter((s) => s.every((x) => arrived.has(x))).length;
  const latencies = [...stats.latencies].sort((a, b) => a - b);
  const rows: (string | number)[][] = [['what', 'value']];
  rows.push(['wall time', `${fmt((Date.now() - started) / 1000, 1)} s`]);
  rows.push(['events sent (acknowledged calls)', fmt(stats.sent)]);
  rows.push(['API requests (batches; answered other than 200, retried)', `${fmt(stats.requests)} (${stats.failedRequests})`]);
  rows.push(['API latency p50 / p99', `${fmt(percentile(latencies, 50), 1)} ms / ${fmt(percentile(latencies, 99), 1)} ms`]);
  rows.push(['SFU nodes (died without a word)', `${SFUS} (${DIE})`]);
  rows.push(['participants (aborted, resumed, on a dead SFU)', `${stats.participants} (${stats.aborted}, ${stats.resumed}, ${stats.orphaned})`]);
  rows.push(['webhooks expected / received', `${report.expected} / ${report.received}`]);
  for (const [type, [e, r]] of [...report.byType.entries()].sort()) rows.push([`  ${type}`, `${e} / ${r}`]);
  rows.push(['participants with joined/left matched', `${matched} / ${sessions.length}`]);
  rows.push(['lost', report.lost.length]);
  rows.push(['out of order', report.outOfOrder.length]);
  rows.push(['duplicates', report.duplicates]);
  rows.push(['unexpected', report.unexpected.length]);
  rows.push(['rejected by the receiver (bad signature)', rx.rejected.length]);
  console.log();
  printTable(rows);
  for (const [what, list] of [['lost', report.lost], ['out of order', report.outOfOrder], ['unexpected', report.unexpected]] as const) {
    if (list.length > 0) console.log(`${what}: ${list.slice(0, 10).join(', ')}${list.length > 10 ? ', ...' : ''}`);
  }
  const healthy = report.lost.length + report.outOfOrder.length + report.duplicates + report.unexpected.length + rx.rejected.length === 0
    && matched === sessions.length;
  console.log(healthy ? 'healthy: nothing lost, nothing out of order, nothing twice' : 'NOT healthy');
  process.exit(healthy ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
