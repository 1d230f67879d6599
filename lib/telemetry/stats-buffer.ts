import type { RedisClient } from '../redis/connection';
import type { KeySpace } from '../redis/keys';
import { runVariadic } from '../redis/scripts';
import type { AnalyticsStatJson, StatsKey } from './types';

/** A worker's stats as claimed for one flush. */
export interface ClaimedWorker {
  roomId: string;
  participantId: string;
  roomName: string;
  /** '<in|out>|<trackId>' -> the track's stat JSONs in arrival order. */
  tracks: Map<string, string[]>;
}

export interface ClaimedBatch {
  id: string;
  /**
   * Times the batch was handed out, this claim included: more than 1 means earlier flushes
   * of it failed. It is also this claim's token: renew and finish take it back.
   */
  claim: number;
  workers: ClaimedWorker[];
}

/** A stat the flush could not send, for the stats dead-letter stream. */
export interface RejectedStat {
  roomId: string;
  participantId: string;
  trackId: string;
  kind: 'UPSTREAM' | 'DOWNSTREAM';
  reason: string;
  /** The stat as it was buffered. */
  data: string;
}

interface Pending {
  counters: Map<string, number>;
  /** The workers the stats are for, each with its number k (1, 2, ...) in the payload. */
  workers: Map<string, number>;
  /** The stats, as the script reads them: '<k>\n<in|out>|<trackId>\n<stat JSON>\n' each. */
  payload: string;
  count: number;
  waiters: { resolve: () => void; reject: (e: unknown) => void }[];
}

/** Reads of candidates a claim makes before it leaves the shard to its other flushes. */
const CLAIM_ROUNDS = 10;

/**
 * The stats of every worker, buffered in Redis until a flush claims them. Calls made in
 * the same tick are sent together, one script per shard, so a busy SFU's thousands of
 * trackStats cost a handful of round trips; each call resolves once its stat is stored.
 */
export class StatsBuffer {
  private pending = new Map<number, Pending>();
  private scheduled = false;

  constructor(private readonly redis: RedisClient, private readonly keys: KeySpace, private readonly maxPerCall = 2000) {}

  add(roomId: string, key: StatsKey, stat: AnalyticsStatJson, statJson: string): Promise<void> {
    // a newline would split the record in the script and fail every stat of the tick with it
    if (`${roomId}${key.participantId}${key.trackId}`.includes('\n')) {
      return Promise.reject(new Error('stats buffer: ids must not contain a newline'));
    }
    if (typeof statJson !== 'string') return Promise.reject(new Error('stats buffer: the stat JSON must be a string'));
    // in JSON a raw newline can only be whitespace, so a space reads the same
    if (statJson.includes('\n')) statJson = statJson.replace(/\n/g, ' ');
    const shard = this.keys.shardOf(roomId);
    let p = this.pending.get(shard);
    if (!p) {
      p = { counters: new Map(), workers: new Map(), payload: '', count: 0, waiters: [] };
      this.pending.set(shard, p);
    }
    const dir = key.streamType === 'DOWNSTREAM' ? 'out' : 'in';
    countTraffic(p.counters, dir, stat);
    const wid = this.keys.workerId(roomId, key.participantId);
    let k = p.workers.get(wid);
    if (k === undefined) p.workers.set(wid, (k = p.workers.size + 1));
    p.payload += `${k}\n${dir}|${key.trackId}\n${statJson}\n`;
    p.count++;
    const done = new Promise<void>((resolve, reject) => p!.waiters.push({ resolve, reject }));
    if (p.count >= this.maxPerCall) this.send(shard);
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.sendAll());
    }
    return done;
  }

  private sendAll(): void {
    this.scheduled = false;
    for (const shard of [...this.pending.keys()]) this.send(shard);
  }

  private send(shard: number): void {
    const p = this.pending.get(shard);
    if (!p) return;
    this.pending.delete(shard);
    const counters: string[] = [];
    for (const [field, delta] of p.counters) if (delta !== 0) counters.push(field, String(delta));
    const keys = [this.keys.dirty(shard), this.keys.counters(shard)];
    const wids = [...p.workers.keys()];
    for (const wid of wids) keys.push(this.keys.worker(shard, wid), this.keys.statsBuffer(shard, wid));
    runVariadic(this.redis, 'bufferStats', 2, keys, [counters.length / 2, ...counters, ...wids, p.payload])
      .then(() => p.waiters.forEach((w) => w.resolve()), (e) => p.waiters.forEach((w) => w.reject(e)));
  }

  /**
   * Claims up to `workers` dirty workers' stats (or a lapsed batch first), under a lease.
   * The candidates are read first (their keys must be the script's), side by side, so in
   * one write; the script takes what is still theirs, or asks for a fresh read.
   */
  async claim(shard: number, batchId: string, workers: number, leaseMs: number, statsBudget = 1000): Promise<ClaimedBatch | null> {
    let flat: (string | number)[] = [];
    for (let round = 1; ; round++) {
      const [first, wids] = await Promise.all([
        this.redis.zrange(this.keys.inflight(shard), 0, 0), this.redis.srandmember(this.keys.dirty(shard), workers),
      ]);
      const lapsing = first[0] ?? '';
      const keys = [
        this.keys.dirty(shard), this.keys.inflight(shard), this.keys.inflightClaims(shard),
        this.keys.statBatch(shard, batchId), this.keys.statBatch(shard, lapsing || batchId),
      ];
      for (const wid of wids) keys.push(this.keys.statsBuffer(shard, wid), this.keys.worker(shard, wid));
      flat = (await runVariadic(this.redis, 'claimStats', 5, keys, [batchId, lapsing, leaseMs, statsBudget, ...wids])) as (string | number)[];
      if (flat[0] !== 'retry') break;
      // other flushes of the shard keep taking the candidates first: theirs is the work
      if (round >= CLAIM_ROUNDS) return null;
    }
    if (flat.length === 0) return null;
    const batch: ClaimedBatch = { id: String(flat[0]), claim: Number(flat[1]), workers: [] };
    for (let i = 2; i < flat.length;) {
      const wid = String(flat[i]);
      const n = Number(flat[i + 2]);
      const tracks = new Map<string, string[]>();
      for (const entry of flat.slice(i + 3, i + 3 + n) as string[]) {
        const nl = entry.indexOf('\n');
        const track = entry.slice(0, nl);
        let list = tracks.get(track);
        if (!list) tracks.set(track, (list = []));
        list.push(entry.slice(nl + 1));
      }
      batch.workers.push({ ...this.keys.splitWorkerId(wid), roomName: String(flat[i + 1]), tracks });
      i += 3 + n;
    }
    return batch;
  }

  /** Extends the batch's lease; false if the batch was handed to another flush since `claim`. */
  async renew(shard: number, batchId: string, claim: number, leaseMs: number): Promise<boolean> {
    return (await this.redis.renewStats(this.keys.inflight(shard), this.keys.inflightClaims(shard), batchId, claim, leaseMs)) === 1;
  }

  /**
   * Ends a batch. Given its `claim`, only if no other flush was handed the batch since;
   * true if this call ended it.
   */
  async finish(shard: number, batchId: string, claim?: number): Promise<boolean> {
    const ended = await this.redis.finishStats(
      this.keys.inflight(shard), this.keys.inflightClaims(shard), this.keys.statBatch(shard, batchId), batchId, claim ?? '');
    return ended === 1;
  }

  /** Appends a batch's rejected stats to the dead-letter stream, once per batch id. */
  async reject(batchId: string, rejected: RejectedStat[], maxLen: number): Promise<void> {
    if (rejected.length === 0) return;
    const args: string[] = [];
    for (const r of rejected) args.push(r.roomId, r.participantId, r.trackId, r.kind, r.reason, r.data);
    await this.redis.rejectStats(this.keys.statsRejectedStream(), this.keys.rejectedStatBatches(), batchId, maxLen, ...args);
  }

  /** The batch is finished, so never rejected again: its id need not be kept. */
  async forgetRejected(batchId: string): Promise<void> {
    await this.redis.zrem(this.keys.rejectedStatBatches(), batchId);
  }

  /**
   * Fleet-wide traffic counters by direction, summed over the shards: read side by side, so
   * auto-pipelining sends them in one write (on a cluster, one per node).
   */
  async counters(): Promise<Record<string, number>> {
    const all = await Promise.all(Array.from({ length: this.keys.shards }, (_, s) => this.redis.hgetall(this.keys.counters(s))));
    const out: Record<string, number> = {};
    for (const h of all) {
      for (const [k, v] of Object.entries(h)) out[k] = (out[k] ?? 0) + Number(v);
    }
    return out;
  }
}

const U32_WRAPPED = 2 ** 31;
/** uint64 counters are summed as doubles, exact below 2^53; LiveKit's isValid already skips those past 2^63. */
const U64_COUNTED = 2 ** 53;
const DIGITS = /^\d{1,16}$/;
const STREAM_U32 = ['primaryPackets', 'retransmitPackets', 'paddingPackets', 'packetsLost', 'packetsOutOfOrder', 'frames', 'nacks', 'plis', 'firs'] as const;
const STREAM_U64 = ['primaryBytes', 'retransmitBytes', 'paddingBytes'] as const;
const COUNTERS = ['nacks', 'plis', 'firs', 'packets', 'bytes', 'retransmit_packets', 'retransmit_bytes'] as const;

/** A counter of protobuf JSON (number or decimal string) below `max`, or -1. */
function counter(v: unknown, max: number): number {
  if (v === undefined || v === null) return 0;
  const n = typeof v === 'number' ? v : typeof v === 'string' && DIGITS.test(v) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 0 && n < max ? n : -1;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A stream's counters LiveKit's isValid reads, all in range (a wrapped one skips the stat). */
function validStream(s: unknown): s is Json {
  if (!isObject(s)) return false;
  for (const f of STREAM_U32) if (counter(s[f], U32_WRAPPED) < 0) return false;
  for (const f of STREAM_U64) if (counter(s[f], U64_COUNTED) < 0) return false;
  const layers = s.videoLayers ?? [];
  if (!Array.isArray(layers)) return false;
  for (const l of layers) {
    if (!isObject(l) || counter(l.packets, U32_WRAPPED) < 0 || counter(l.frames, U32_WRAPPED) < 0 || counter(l.bytes, U64_COUNTED) < 0) return false;
  }
  return true;
}

/**
 * LiveKit's per-direction counters (TrackStats in stats.go): upstream retransmissions
 * count as traffic, downstream ones are kept apart. A stat LiveKit's isValid would skip (a
 * wrapped counter), or that is not an AnalyticsStat at all, counts nothing: the flush sets
 * those aside, and their numbers are not traffic. Sums stay exact integers: a sum that
 * would pass 2^53 in one tick is not added (Redis refuses an increment that is not one).
 */
function countTraffic(counters: Map<string, number>, dir: 'in' | 'out', stat: AnalyticsStatJson): void {
  if (!isObject(stat)) return;
  const streams = (stat as Json).streams ?? [];
  if (!Array.isArray(streams) || !streams.every(validStream)) return;
  const d = [0, 0, 0, 0, 0, 0, 0];
  for (const s of streams as Json[]) {
    d[0] += counter(s.nacks, U32_WRAPPED);
    d[1] += counter(s.plis, U32_WRAPPED);
    d[2] += counter(s.firs, U32_WRAPPED);
    d[3] += counter(s.primaryPackets, U32_WRAPPED) + counter(s.paddingPackets, U32_WRAPPED);
    d[4] += counter(s.primaryBytes, U64_COUNTED) + counter(s.paddingBytes, U64_COUNTED);
    const rtxPackets = counter(s.retransmitPackets, U32_WRAPPED);
    const rtxBytes = counter(s.retransmitBytes, U64_COUNTED);
    if (dir === 'out') {
      d[5] += rtxPackets;
      d[6] += rtxBytes;
    } else {
      d[3] += rtxPackets;
      d[4] += rtxBytes;
    }
  }
  for (let i = 0; i < COUNTERS.length; i++) {
    if (d[i] === 0) continue;
    const field = `${dir}:${COUNTERS[i]}`;
    const sum = (counters.get(field) ?? 0) + d[i];
    if (Number.isSafeInteger(sum)) counters.set(field, sum);
  }
}
