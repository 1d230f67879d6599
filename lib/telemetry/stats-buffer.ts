import type { RedisClient } from '../redis/connection';
import type { KeySpace } from '../redis/keys';
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
  workers: ClaimedWorker[];
}

interface Pending {
  counters: Map<string, number>;
  /** The stats, as the script reads them: '<wid>\n<in|out>|<trackId>\n<stat JSON>\n' each. */
  payload: string;
  count: number;
  waiters: { resolve: () => void; reject: (e: unknown) => void }[];
}

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
    const shard = this.keys.shardOf(roomId);
    let p = this.pending.get(shard);
    if (!p) {
      p = { counters: new Map(), payload: '', count: 0, waiters: [] };
      this.pending.set(shard, p);
    }
    const dir = key.streamType === 'DOWNSTREAM' ? 'out' : 'in';
    countTraffic(p.counters, dir, stat);
    p.payload += `${this.keys.workerId(roomId, key.participantId)}\n${dir}|${key.trackId}\n${statJson}\n`;
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
    const counters: (string | number)[] = [];
    for (const [field, delta] of p.counters) if (delta !== 0) counters.push(field, delta);
    this.redis
      .bufferStats(this.keys.dirty(shard), this.keys.counters(shard), this.keys.shardBase(shard), counters.length / 2, ...counters, p.payload)
      .then(() => p.waiters.forEach((w) => w.resolve()), (e) => p.waiters.forEach((w) => w.reject(e)));
  }

  /** Claims up to `workers` dirty workers' stats (or a lapsed batch first), under a lease. */
  async claim(shard: number, batchId: string, workers: number, leaseMs: number, statsBudget = 1000): Promise<ClaimedBatch | null> {
    const flat = (await this.redis.claimStats(this.keys.dirty(shard), this.keys.inflight(shard), this.keys.shardBase(shard), batchId, workers, leaseMs, statsBudget)) as string[];
    if (flat.length === 0) return null;
    const batch: ClaimedBatch = { id: flat[0], workers: [] };
    for (let i = 1; i < flat.length;) {
      const wid = flat[i];
      const n = Number(flat[i + 2]);
      const tracks = new Map<string, string[]>();
      for (const entry of flat.slice(i + 3, i + 3 + n)) {
        const nl = entry.indexOf('\n');
        const track = entry.slice(0, nl);
        let list = tracks.get(track);
        if (!list) tracks.set(track, (list = []));
        list.push(entry.slice(nl + 1));
      }
      batch.workers.push({ ...this.keys.splitWorkerId(wid), roomName: flat[i + 1], tracks });
      i += 3 + n;
    }
    return batch;
  }

  async finish(shard: number, batchId: string): Promise<void> {
    await this.redis.finishStats(this.keys.inflight(shard), this.keys.shardBase(shard), batchId);
  }

  /** Fleet-wide traffic counters by direction, summed over the shards. */
  async counters(): Promise<Record<string, number>> {
    const pipeline = this.redis.pipeline();
    for (let s = 0; s < this.keys.shards; s++) pipeline.hgetall(this.keys.counters(s));
    const out: Record<string, number> = {};
    for (const [, h] of (await pipeline.exec()) ?? []) {
      for (const [k, v] of Object.entries(h as Record<string, string>)) out[k] = (out[k] ?? 0) + Number(v);
    }
    return out;
  }
}

/**
 * LiveKit's per-direction counters (TrackStats in stats.go): upstream retransmissions
 * count as traffic, downstream ones are kept apart.
 */
function countTraffic(counters: Map<string, number>, dir: 'in' | 'out', stat: AnalyticsStatJson): void {
  const add = (name: string, v: number) => counters.set(`${dir}:${name}`, (counters.get(`${dir}:${name}`) ?? 0) + v);
  for (const s of stat.streams ?? []) {
    add('nacks', s.nacks ?? 0);
    add('plis', s.plis ?? 0);
    add('firs', s.firs ?? 0);
    let packets = (s.primaryPackets ?? 0) + (s.paddingPackets ?? 0);
    let bytes = Number(s.primaryBytes ?? 0) + Number(s.paddingBytes ?? 0);
    if (dir === 'out') {
      add('retransmit_packets', s.retransmitPackets ?? 0);
      add('retransmit_bytes', Number(s.retransmitBytes ?? 0));
    } else {
      packets += s.retransmitPackets ?? 0;
      bytes += Number(s.retransmitBytes ?? 0);
    }
    add('packets', packets);
    add('bytes', bytes);
  }
}
