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
 * `--chaos` adds faults the fleet must ride out with the same result: one coordinator node
 * SIGKILLed and started again, the redis-server SIGKILLed and restarted (append-only, fsync
 * always) at another moment, a share of batches sent twice at once to two nodes, and a
 * buggy SFU node sending malformed events, each of which must be refused with a 4xx.
 *
 *   npm run simulate [-- --rooms 30 --participants 5 --sfus 4 --die 1 --seconds 30] [--chaos]
 *
 * `--redis sentinel|cluster` runs the nodes on a master + replica behind sentinels, or on a
 * cluster of 3 masters + 3 replicas, instead of one redis-server; `--failover` SIGKILLs a
 * master mid-run (`--lag 1` cuts its replica off 1 s before, so the acknowledged writes of
 * that second are not on it), the replica is promoted, the nodes carry on without a restart,
 * and the killed server comes back as a replica. `--wait-replicas 1` sets REDIS_WAIT_REPLICAS
 * on the nodes: compare the lost row with it and without (docs/redis-topologies.md).
 *
 *   npm run simulate -- --redis sentinel --failover [--lag 1] [--wait-replicas 1]
 */
import type { ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { AnalyticsStat, AnalyticsStream, ParticipantInfo, Room, TrackInfo, TrackType } from '@livekit/protocol';
import { TelemetryClient, type RequestReport } from '../lib/client/telemetry-client';
import { freePort } from '../lib/redis/server';
import { EVENT_CLAIM_DEFAULTS } from '../lib/telemetry/event-claims';
import { startHttpNode, stopNodeProcess } from '../test/support/processes';
import { API_KEY, API_SECRET, TestReceiver } from '../test/support/receiver';
import { BuggySfu, DuplicateTally, duplicatingFetch, summarizeLogs } from './support/chaos';
import { OutageTally } from './support/outage';
import { startTopology, TOPOLOGY_KINDS, type FailoverReport, type TopologyKind } from './support/topology';
import { fmt, printTable } from './support/table';
import { WebhookLedger, webhookSubject } from './support/webhook-ledger';
import { BalancedRun } from './support/lb';
import { buildSfuBridge, GoSfuBridge, type GoSfuClient } from './support/go-sfu';

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
  chaos: { type: 'boolean', default: false },
  /** The SFU nodes' client: `ts` (TelemetryClient) or `go` (clients/go, through cmd/sfu-bridge). */
  sfu: { type: 'string', default: 'ts' },
  /** HAProxy in front of the nodes, its one URL all the SFU nodes get, and every node restarted in turn mid-run (docs/load-balancer.md). */
  lb: { type: 'boolean', default: false },
  /** Chaos: how long the redis-server stays down, in seconds. */
  outage: { type: 'string', default: '3' },
  /** Chaos: the share of batches also sent, at the same moment, to a second node. */
  twice: { type: 'string', default: '0.1' },
  /** Chaos: malformed batches the buggy SFU node sends over the run. */
  malformed: { type: 'string', default: '8' },
  /** The SFU nodes' lease (NODE_LEASE), in seconds: 3, or 20 with --chaos (see below). */
  lease: { type: 'string' },
  /** How long a closed worker is kept (WORKER_CLEANUP_WAIT), in seconds: 10, or 30 with --chaos. */
  cleanup: { type: 'string' },
  /** Where the nodes' Redis is: single (one redis-server), sentinel or cluster. */
  redis: { type: 'string', default: 'single' },
  /** A master SIGKILLed mid-run (sentinel or cluster). */
  failover: { type: 'boolean', default: false },
  /** Failover: seconds the replica is cut off from the master before the kill (replication lag at the crash). */
  lag: { type: 'string', default: '0' },
  /** REDIS_WAIT_REPLICAS on the nodes. */
  'wait-replicas': { type: 'string', default: '0' },
} });
const ROOMS = Number(values.rooms);
const PER_ROOM = Number(values.participants);
const SFUS = Number(values.sfus);
const DIE = Number(values.die);
const DURATION_MS = Number(values.seconds) * 1000;
const RESUME = Number(values.resume);
const ABORT = Number(values.abort);
const STATS_MS = Number(values['stats-interval']);
const CHAOS = values.chaos;
const OUTAGE_MS = Number(values.outage) * 1000;
const TWICE = Number(values.twice);
const MALFORMED = Number(values.malformed);
// With --chaos, the settings keep the relations a production fleet has (NODE_LEASE 20 s,
// WORKER_CLEANUP_WAIT 3 m) to the coordinators' event-id claim lease (15 s):
// - An SFU node renews its lease every NODE_LEASE / 4, and no renewal lands while Redis is
//   down: the lease must outlast a renewal interval + the outage + the reconnection, or the
//   outage itself expires every live SFU node (leaves raised for connected participants).
// - A batch in flight when Redis or its coordinator node dies keeps its event ids claimed
//   for the claim lease: its SFU node's calls are all held that long (the slowest-call row
//   shows it). A participant resuming on that SFU node meanwhile is not known there yet; if
//   its old SFU node's lease lapses first, it leaves, and comes back as a new generation
//   that leaves again (two participant_left). And a batch applied again after the claim
//   lease finds a worker reaped in between gone, and raises a leave of its own. So both
//   NODE_LEASE and WORKER_CLEANUP_WAIT must exceed the claim lease; `--lease 8 --cleanup 10`
//   shows what happens when they do not.
const CLAIM_LEASE_MS = EVENT_CLAIM_DEFAULTS.leaseMs;
const REDIS_KIND = values.redis as TopologyKind;
if (values.sfu !== 'ts' && values.sfu !== 'go') throw new Error(`--sfu ${values.sfu}: ts or go`);
if (!TOPOLOGY_KINDS.includes(REDIS_KIND)) throw new Error(`--redis ${values.redis}: one of ${TOPOLOGY_KINDS.join(', ')}`);
const FAILOVER = values.failover;
if (FAILOVER && REDIS_KIND === 'single') throw new Error('--failover needs a replica: --redis sentinel or --redis cluster');
if (CHAOS && REDIS_KIND !== 'single') throw new Error('--chaos kills and restarts one redis-server: run it with --redis single');
const LAG_MS = Number(values.lag) * 1000;
const WAIT_REPLICAS = Number(values['wait-replicas']);
// a failover is an outage of a few seconds, as --chaos's: the same leases, for the same reasons (below)
const NODE_LEASE_MS = Number(values.lease ?? (CHAOS || FAILOVER ? 20 : 3)) * 1000;
const CLEANUP_MS = Number(values.cleanup ?? (CHAOS || FAILOVER ? 30 : 10)) * 1000;
if (!(DIE >= 0 && DIE < SFUS)) throw new Error('--die must leave at least one SFU node alive');
if (CHAOS && OUTAGE_MS + NODE_LEASE_MS / 4 + 1000 >= NODE_LEASE_MS) {
  throw new Error(`--outage ${OUTAGE_MS / 1000} s: the SFU nodes' leases (--lease ${NODE_LEASE_MS / 1000} s) would lapse during it; give a longer --lease`);
}
if (CHAOS && Math.min(NODE_LEASE_MS, CLEANUP_MS) < CLAIM_LEASE_MS + 2000) {
  process.stderr.write(`note: --lease ${NODE_LEASE_MS / 1000} s / --cleanup ${CLEANUP_MS / 1000} s do not outlast the event-id claim lease (${CLAIM_LEASE_MS / 1000} s) with 2 s to spare: a batch held by a crash may be applied after a lease lapse or a reap (see the comment above)\n`);
}

// seeded generators, so a run's shape can be repeated (its timing cannot); the faults draw
// from their own, so --chaos leaves the traffic's draws as they were
function seeded(start: number): () => number {
  let seed = start >>> 0;
  return () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = seeded(Number(values.seed));
const chaosRandom = seeded(Number(values.seed) ^ 0x5eed_c4a0);
const between = (lo: number, hi: number) => lo + random() * (hi - lo);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Thrown into a participant's flow when the SFU node it talks through has died. */
class SfuGone extends Error {}

/**
 * Thrown into a flow when TelemetryClient gave a call up (it rejected) while its SFU node
 * is alive: a finding, recorded in `stats.rejected`; the flow stops, the run is not healthy.
 */
class CallRejected extends Error {}

class Sfu {
  state: 'alive' | 'dying' | 'dead' = 'alive';
  constructor(readonly id: string, readonly client: TelemetryClient | GoSfuClient) {}

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

const stats = {
  sent: 0, latencies: [] as number[], requests: 0, failedRequests: 0, participants: 0, aborted: 0, resumed: 0, orphaned: 0,
  /** Requests answered other than 200, by answer ('503', 'network-error', ...). */
  failedBy: new Map<string, number>(),
  /** Calls TelemetryClient gave up on (rejected) for a live SFU node: what and why. */
  rejected: [] as string[],
  /** The call that took longest from being made to being acknowledged. */
  slowest: { ms: 0, sfu: '', at: 0 },
};
const ledger = new WebhookLedger();
const outage = new OutageTally();
/** Per participant: the subjects that must all arrive for its session to count as matched. */
const sessions: string[][] = [];

/** Time since the traffic began, for the chaos lines. */
let trafficStart = 0;
const sinceStart = () => (Date.now() - trafficStart) / 1000;

/**
 * Per participant (its identity) or room (its name): the calls made for it, when, through
 * which SFU node, and when acknowledged, printed for a subject that went wrong.
 */
const traces = new Map<string, string[]>();

async function call(sfu: Sfu, fn: (c: TelemetryClient | GoSfuClient) => Promise<void>, trace?: [who: string, what: string]): Promise<void> {
  if (!sfu.up) throw new SfuGone(sfu.id);
  const t0 = Date.now();
  const line = trace && `${fmt(sinceStart(), 1)} s ${sfu.id} ${trace[1]}`;
  outage.callStarted();
  let ok = false;
  try {
    await fn(sfu.client);
    ok = true;
    if (Date.now() - t0 > stats.slowest.ms) stats.slowest = { ms: Date.now() - t0, sfu: sfu.id, at: (t0 - trafficStart) / 1000 };
    if (trace) traces.set(trace[0], [...(traces.get(trace[0]) ?? []), `${line} -> ok at ${fmt(sinceStart(), 1)} s`]);
  } catch (e) {
    if (trace) traces.set(trace[0], [...(traces.get(trace[0]) ?? []), `${line} -> ${(e as Error).message} at ${fmt(sinceStart(), 1)} s`]);
    if (sfu.state === 'dead') throw new SfuGone(sfu.id); // the crash took it with it
    const what = `${sfu.id} at ${fmt(sinceStart(), 1)} s: ${(e as Error).message}`;
    stats.rejected.push(what);
    process.stderr.write(`\nTelemetryClient gave a call up: ${what}\n`);
    throw new CallRejected(what);
  } finally {
    outage.callEnded(ok);
  }
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
    await call(home, (c) => c.participantJoined({ room, participant: info, shouldSendEvent: true, guard: sig }), [info.identity, `participantJoined ${sig}`]);
    guards.push({ guard: sig, sfu: home });
    if (random() < ABORT) {
      // gave up before the media connection came up
      stats.aborted++;
      await sleep(between(50, 500));
    } else {
      await sleep(between(20, 200));
      await call(home, (c) => c.participantActive({ room, participant: info, isMigration: false, guard: `media-${info.sid}-${gen}` }), [info.identity, `participantActive media-${info.sid}-${gen}`]);
      guards.push({ guard: `media-${info.sid}-${gen}`, sfu: home });
      active = true;
      ledger.expect(subj('participant_joined'));
      ledger.mustPrecede(roomStarted, subj('participant_joined'));
      for (const type of [TrackType.AUDIO, TrackType.VIDEO]) {
        const track = new TrackInfo({ sid: `TR_${info.sid.slice(3)}_${type}`, type, name: type === TrackType.AUDIO ? 'mic' : 'camera' });
        await call(home, (c) => c.trackPublished({ room, participantId: info.sid, identity: info.identity, track, shouldSendEvent: true }), [info.identity, `trackPublished ${track.sid}`]);
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
            await call(target, (c) => c.participantJoined({ room, participant: info, shouldSendEvent: false, guard: sig2 }), [info.identity, `participantJoined ${sig2} (resume)`]);
            guards.push({ guard: sig2, sfu: target });
            for (const g of guards.filter((x) => x.sfu === home)) {
              if (home.up) await call(home, (c) => c.participantLeft({ room, participant: info, shouldSendEvent: false, guard: g.guard }), [info.identity, `participantLeft ${g.guard} (no event)`]);
              guards.splice(guards.indexOf(g), 1);
            }
            home = target;
          }
          resumeAt = Infinity;
        }
        await sleep(STATS_MS);
      }
      for (const track of tracks) {
        await call(home, (c) => c.trackUnpublished({ room, participantId: info.sid, identity: info.identity, track, shouldSendEvent: true }), [info.identity, `trackUnpublished ${track.sid}`]);
        const unpublished = `track_unpublished|${room.name}|${track.sid}`;
        ledger.expect(unpublished);
        ledger.mustPrecede(`track_published|${room.name}|${track.sid}`, unpublished);
      }
    }
    while (guards.length > 0) {
      const g = guards[0];
      await call(g.sfu, (c) => c.participantLeft({ room, participant: info, shouldSendEvent: true, guard: g.guard }), [info.identity, `participantLeft ${g.guard}`]);
      guards.shift();
    }
    ledger.expect(leave());
  } catch (e) {
    if (e instanceof CallRejected) return; // recorded: this participant's story cannot go on
    if (!(e instanceof SfuGone)) throw e;
    // its SFU node died: the fleet releases that node's connections when the lease lapses;
    // connections it held on live nodes close as usual
    stats.orphaned++;
    for (const g of guards.filter((x) => x.sfu.up)) {
      await call(g.sfu, (c) => c.participantLeft({ room, participant: info, shouldSendEvent: true, guard: g.guard }), [info.identity, `participantLeft ${g.guard} (home SFU died)`]).catch(() => {});
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
  try {
    await roomStory(n, sfus, rx);
  } catch (e) {
    if (!(e instanceof CallRejected)) throw e; // recorded: this room's story cannot go on
  }
}

async function roomStory(n: number, sfus: Sfu[], rx: TestReceiver): Promise<void> {
  await sleep(between(0, DURATION_MS * 0.3));
  const room = new Room({ sid: `RM_${n}`, name: `room-${n}`, creationTime: BigInt(Math.floor(Date.now() / 1000)) });
  const r: SimRoom = { room, published: [], awaitedLeaves: [] };
  const host = liveSfu(sfus)!;
  await call(host, (c) => c.roomStarted({ room }), [room.name, 'roomStarted']);
  ledger.expect(`room_started|${room.name}`);
  const roomEnd = Date.now() + between(DURATION_MS * 0.4, DURATION_MS * 0.65);
  await Promise.all(Array.from({ length: PER_ROOM }, async (_, i) => {
    await sleep(between(0, DURATION_MS * 0.15));
    await participantFlow(r, i, sfus, roomEnd - between(0, DURATION_MS * 0.1));
  }));
  // a room closes once empty: leaves the fleet raises for a dead SFU node come first
  const deadline = Date.now() + NODE_LEASE_MS * 10;
  while (Date.now() < deadline && !r.awaitedLeaves.every((s) => rx.received.some((e) => webhookSubject(e) === s))) await sleep(100);
  await call(liveSfu(sfus)!, (c) => c.roomEnded({ room }), [room.name, 'roomEnded']);
  ledger.expect(`room_finished|${room.name}`);
  ledger.mustPrecede(`room_started|${room.name}`, `room_finished|${room.name}`);
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Sleeps until `share` of the run's duration has passed since the traffic began. */
const atShare = (share: number) => sleep(Math.max(0, trafficStart + DURATION_MS * share - Date.now()));

async function main() {
  const started = Date.now();
  // chaos: append-only with fsync always, so a SIGKILL loses nothing Redis acknowledged
  const topology = await startTopology(REDIS_KIND, { appendOnly: CHAOS });
  const rx = new TestReceiver();
  await rx.start();
  const ports = [await freePort(), await freePort(), await freePort()];
  process.stderr.write(`starting 3 coordinator nodes on ${topology.describe}${CHAOS ? ' (append-only, fsync always)' : ''}${WAIT_REPLICAS > 0 ? `, REDIS_WAIT_REPLICAS=${WAIT_REPLICAS}` : ''}, webhooks to ${rx.url}${CHAOS ? ', with chaos' : ''}\n`);
  // chaos: the nodes' output is kept (an outage makes them warn on every request) and summed up at the end
  const nodeLogs: string[] = [];
  const unexpectedExits: string[] = [];
  const killedOnPurpose = new Set<ChildProcess>();
  let stopping = false;
  const startNode = async (port: number): Promise<ChildProcess> => {
    const child = await startHttpNode({
      PORT: String(port), ...topology.env, REDIS_WAIT_REPLICAS: String(WAIT_REPLICAS), API_KEY, API_SECRET, WEBHOOK_URLS: rx.url,
      FLUSH_INTERVAL: '2s', NODE_LEASE: `${NODE_LEASE_MS}ms`, WORKER_CLEANUP_WAIT: `${CLEANUP_MS}ms`, LOG_LEVEL: 'warn',
    }, CHAOS ? { output: nodeLogs } : {});
    child.once('exit', (code, signal) => {
      if (stopping || killedOnPurpose.has(child)) return;
      const what = `:${port} exited by itself (${signal ?? `code ${code}`}) at ${fmt(sinceStart(), 1)} s`;
      unexpectedExits.push(what);
      process.stderr.write(`\ncoordinator node ${what}\n`);
    });
    return child;
  };
  const nodes = await Promise.all(ports.map(startNode));
  const lb = values.lb ? await BalancedRun.start(ports) : null;
  const urls = lb ? [lb.url] : ports.map((p) => `http://127.0.0.1:${p}`);
  const copies = new DuplicateTally();
  let failover: FailoverReport | null = null;
  // Chaos: a batch in flight when its node or Redis dies holds its event ids' claims for
  // their lease (15 s) and a copy waits up to 5 s per request before a 503, so a client
  // must keep retrying for 15 s + the outage. Backoffs of 100 ms doubling to 2 s, jittered
  // to half at worst, over 30 attempts wait at least 50+100+200+400+800 + 24 x 1,000 ms =
  // 25.6 s before a call rejects (the defaults, 8 attempts to 5 s, wait as little as 5.7 s).
  const chaosClient = CHAOS || FAILOVER ? { maxAttempts: 30, maxBackoffMs: 2000, ...(CHAOS ? { fetch: duplicatingFetch(urls, TWICE, chaosRandom, copies) } : {}) } : {};
  const onRequest = (r: RequestReport) => {
      outage.request(r.status);
      if (r.events === 0) return; // a lease heartbeat
      stats.requests++;
      if (r.status === 200) stats.latencies.push(r.ms);
      else {
        stats.failedRequests++;
        stats.failedBy.set(String(r.status), (stats.failedBy.get(String(r.status)) ?? 0) + 1);
      }
  };
  // --sfu go: the same SFU nodes on the Go client (it retries until closed: no maxAttempts)
  const bridge = values.sfu === 'go' ? new GoSfuBridge(buildSfuBridge(), {
    urls, apiKey: API_KEY, apiSecret: API_SECRET, heartbeatIntervalMs: NODE_LEASE_MS / 4, lingerMs: 2, onRequest,
    onRefused: (sfu, message) => { stats.rejected.push(`${sfu}: ${message}`); process.stderr.write(`\nthe Go client refused an event: ${sfu}: ${message}\n`); },
  }) : null;
  const sfus = Array.from({ length: SFUS }, (_, i) => new Sfu(`sfu-${i}`, bridge ? bridge.client(`sfu-${i}`) : new TelemetryClient({
    urls, nodeId: `sfu-${i}`, apiKey: API_KEY, apiSecret: API_SECRET, heartbeatIntervalMs: NODE_LEASE_MS / 4, lingerMs: 2,
    ...chaosClient, onRequest,
  })));
  const buggy = new BuggySfu(urls, API_KEY, API_SECRET);
  const faults = {
    node: null as { at: number; port: number; downMs: number } | null,
    redis: null as { at: number; outageMs: number } | null,
  };

  /**
   * The two crashes, at different moments: Redis at 25 % of the run (rooms are filling
   * up), a coordinator node at 55 % or 1 s after Redis is back, whichever is later (rooms
   * are ending; a node's start-up needs Redis).
   */
  async function crashes(): Promise<void> {
    await atShare(0.25);
    const rAt = sinceStart();
    const r0 = Date.now();
    process.stderr.write(`\nchaos: redis-server SIGKILLed at ${fmt(rAt, 1)} s\n`);
    await topology.server.kill();
    await sleep(OUTAGE_MS);
    await topology.server.restart(); // same port and directory: the append-only file brings the data back
    faults.redis = { at: rAt, outageMs: Date.now() - r0 };
    process.stderr.write(`chaos: redis-server listening again after ${fmt(faults.redis.outageMs)} ms\n`);

    const apart = Date.now() + 1000;
    await atShare(0.55);
    await sleep(Math.max(0, apart - Date.now()));
    const i = Math.floor(chaosRandom() * nodes.length);
    const victim = nodes[i];
    const at = sinceStart();
    const t0 = Date.now();
    process.stderr.write(`\nchaos: coordinator node :${ports[i]} SIGKILLed at ${fmt(at, 1)} s\n`);
    killedOnPurpose.add(victim);
    await stopNodeProcess(victim, 'SIGKILL');
    nodes[i] = await startNode(ports[i]); // same port, same environment
    faults.node = { at, port: ports[i], downMs: Date.now() - t0 };
    process.stderr.write(`chaos: coordinator node :${ports[i]} ready again after ${fmt(faults.node.downMs)} ms\n`);
  }

  /** The buggy SFU node's malformed batches, spread over the run (some land in the faults). */
  async function malformed(): Promise<void> {
    for (let k = 0; k < MALFORMED; k++) {
      await atShare(((k + 0.5) / MALFORMED) * 0.9);
      const r = await buggy.sendOne();
      if (typeof r.status !== 'number' || r.status < 400 || r.status >= 500) {
        process.stderr.write(`\nmalformed request (${r.what}) answered ${r.status}: ${r.message}\n`);
      }
    }
  }

  const progress = setInterval(() => {
    const live = sfus.filter((s) => s.up).length;
    const line = `[${Math.round((Date.now() - started) / 1000)}s] events sent ${fmt(stats.sent)}  requests ${fmt(stats.requests)}  webhooks ${fmt(rx.received.length)}  participants ${stats.participants}  SFU nodes ${live}/${SFUS} alive`;
    process.stderr.write(process.stderr.isTTY ? `\r${line}   ` : `${line}\n`);
  }, process.stderr.isTTY ? 500 : 5000);
  trafficStart = Date.now();
  // --lb: the restarts begin at 15 % of the run, rooms filling up
  const rolling = lb?.restartInTurn(atShare(0.15), trafficStart, {
    stop: async (i) => { killedOnPurpose.add(nodes[i]); await stopNodeProcess(nodes[i]); return nodes[i].exitCode; },
    start: async (i) => { nodes[i] = await startNode(ports[i]); },
  });
  outage.start();
  try {
    const deaths = sleep(DURATION_MS * 0.4).then(async () => {
      const victims = [...sfus].sort(() => random() - 0.5).slice(0, DIE);
      for (const v of victims) { process.stderr.write(`\n${v.id} dies without a word at ${fmt(sinceStart(), 1)} s\n`); await v.die(); }
    });
    const chaos = CHAOS ? Promise.all([crashes(), malformed()]) : Promise.resolve();
    // the master crashes at a third of the run: rooms are full, none has ended yet
    const crash = FAILOVER ? atShare(0.33).then(async () => {
      process.stderr.write(`\nfailover: SIGKILLing the master at ${fmt(sinceStart(), 1)} s${LAG_MS > 0 ? `, its replica cut off ${LAG_MS} ms before` : ''}\n`);
      failover = await topology.failover({ lagMs: LAG_MS });
      process.stderr.write(`failover: ${failover.promoted} promoted after ${fmt(failover.promotedMs)} ms; ${failover.killed} back as its replica after ${fmt(failover.restoredMs)} ms\n`);
    }) : Promise.resolve();
    await Promise.all([deaths, chaos, crash, ...Array.from({ length: ROOMS }, (_, n) => roomFlow(n, sfus, rx))]);
    await rolling;
    for (const s of sfus.filter((x) => x.up)) await s.client.close();
    await copies.settled();
    // deliveries still in flight: wait until every expected webhook came, or 30 s; with chaos
    // 60 s, as a delivery the SIGKILLed node had in hand keeps its BullMQ lock (30 s) until
    // another node's stalled-job check (every 15 s) takes it back
    const deadline = Date.now() + (CHAOS || FAILOVER ? 60_000 : 30_000);
    while (Date.now() < deadline && ledger.check(rx.received).lost.length > 0) await sleep(200);
  } finally {
    clearInterval(progress);
    stopping = true;
    process.stderr.write('\n');
    for (const s of sfus) s.client.destroy();
    await bridge?.stop();
    await lb?.stop();
    await Promise.all(nodes.map((n) => stopNodeProcess(n)));
    await rx.stop();
    await topology.stop();
  }

  const report = ledger.check(rx.received);
  const arrived = new Set(rx.received.map(webhookSubject));
  const matched = sessions.filter((s) => s.every((x) => arrived.has(x))).length;
  const latencies = [...stats.latencies].sort((a, b) => a - b);
  const rows: (string | number)[][] = [['what', 'value']];
  rows.push(['wall time', `${fmt((Date.now() - started) / 1000, 1)} s`]);
  rows.push(['events sent (acknowledged calls)', fmt(stats.sent)]);
  rows.push(['API requests (batches; answered other than 200, retried)', `${fmt(stats.requests)} (${stats.failedRequests})`]);
  if (stats.failedBy.size > 0) rows.push(['  answered other than 200, by answer', [...stats.failedBy].sort().map(([k, n]) => `${k}: ${fmt(n)}`).join(', ')]);
  rows.push(['API latency p50 / p99', `${fmt(percentile(latencies, 50), 1)} ms / ${fmt(percentile(latencies, 99), 1)} ms`]);
  rows.push(['slowest call, made to acknowledged', `${fmt(stats.slowest.ms)} ms (${stats.slowest.sfu}, made at ${fmt(stats.slowest.at, 1)} s)`]);
  rows.push(['calls given up by the client (rejected)', stats.rejected.length]);
  rows.push(['SFU nodes (died without a word)', `${SFUS} (${DIE})`]);
  rows.push(['participants (aborted, resumed, on a dead SFU)', `${stats.participants} (${stats.aborted}, ${stats.resumed}, ${stats.orphaned})`]);
  rows.push(['webhooks expected / received', `${report.expected} / ${report.received}`]);
  for (const [type, [e, r]] of [...report.byType.entries()].sort()) rows.push([`  ${type}`, `${e} / ${r}`]);
  rows.push(['participants with joined/left matched', `${matched} / ${sessions.length}`]);
  rows.push(['lost', report.lost.length]);
  rows.push(['out of order', report.outOfOrder.length]);
  rows.push(['duplicates', report.duplicates]);
  rows.push(['redelivered (same id)', report.redelivered]);
  rows.push(['unexpected', report.unexpected.length]);
  rows.push(['rejected by the receiver (bad signature)', rx.rejected.length]);
  if (lb) rows.push(...lb.rows({ retried: stats.failedRequests, failedForGood: stats.rejected.length }));
  const malformedNaming = buggy.results.filter((r) => r.namesField).length;
  if (FAILOVER || WAIT_REPLICAS > 0) rows.push(...outage.rows(failover, WAIT_REPLICAS));
  if (CHAOS) {
    const f = faults;
    rows.push(['chaos: redis-server SIGKILLed and restarted at', f.redis ? `${fmt(f.redis.at, 1)} s (outage ${fmt(f.redis.outageMs)} ms)` : 'not injected']);
    rows.push(['chaos: coordinator node SIGKILLed and restarted at', f.node ? `${fmt(f.node.at, 1)} s (:${f.node.port}, down ${fmt(f.node.downMs)} ms)` : 'not injected']);
    rows.push(['chaos: batches sent twice at once to two nodes', copies.describe()]);
    rows.push(['chaos: malformed requests (answered 4xx)', `${buggy.answered4xx} / ${buggy.sent}`]);
    rows.push(['chaos: malformed requests refused naming the bad field', `${malformedNaming} / ${buggy.sent}`]);
    rows.push(['coordinator nodes that exited by themselves', unexpectedExits.length]);
  }
  console.log();
  printTable(rows);
  const lists: [string, string[]][] = [
    ['lost', report.lost], ['out of order', report.outOfOrder], ['duplicated (two webhook ids)', report.duplicated],
    ['unexpected', report.unexpected], ['calls given up by the client', stats.rejected], ['coordinator nodes that exited', unexpectedExits],
    ['malformed requests answered other than 4xx', buggy.results.filter((r) => !(typeof r.status === 'number' && r.status >= 400 && r.status < 500)).map((r) => `${r.what}: ${r.status} ${r.message}`)],
    ['malformed requests refused without naming the bad field', buggy.results.filter((r) => !r.namesField && typeof r.status === 'number' && r.status < 500).map((r) => `${r.what}: ${r.status} ${r.message}`)],
  ];
  for (const [what, list] of lists) {
    if (list.length > 0) console.log(`${what}: ${list.slice(0, 10).join(', ')}${list.length > 10 ? ', ...' : ''}`);
  }
  // what tells the copies apart: their ids, and when each was queued (createdAt, in seconds)
  for (const subject of report.duplicated.slice(0, 10)) {
    const arrivals = rx.received.filter((e) => webhookSubject(e) === subject);
    const seen = new Set<string>();
    const shown = arrivals.filter((e) => !seen.has(e.id) && seen.add(e.id))
      .map((e) => `${e.id} queued at ${fmt(Number(e.createdAt) - Math.floor(trafficStart / 1000))} s`);
    console.log(`  ${subject}: ${shown.join('; ')}`);
    const [, room, identity] = subject.split('|');
    for (const line of traces.get(identity ?? room) ?? []) console.log(`    ${line}`);
  }
  if (CHAOS) {
    const logged = summarizeLogs(nodeLogs);
    const total = logged.reduce((n, l) => n + l.count, 0);
    console.log(`coordinator nodes' log lines at warn or above: ${total}${total > 0 ? ', by message:' : ''}`);
    for (const l of logged.slice(0, 8)) console.log(`  ${String(l.count).padStart(6)} x ${l.level.padEnd(5)} ${l.msg}`);
  }
  const chaosHealthy = !CHAOS || (faults.node !== null && faults.redis !== null && buggy.sent === MALFORMED
    && buggy.answered4xx === buggy.sent && unexpectedExits.length === 0);
  const healthy = report.lost.length + report.outOfOrder.length + report.duplicates + report.unexpected.length + rx.rejected.length === 0
    && matched === sessions.length && stats.rejected.length === 0 && chaosHealthy && (!lb || lb.healthy) && (!FAILOVER || (failover !== null && unexpectedExits.length === 0));
  console.log(healthy
    ? `healthy: nothing lost, nothing out of order, nothing twice${CHAOS ? ', through the faults' : ''}`
    : 'NOT healthy');
  process.exit(healthy ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
