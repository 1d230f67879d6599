import { Timestamp } from '@bufbuild/protobuf';
import { AnalyticsStat, StreamType } from '@livekit/protocol';
import type { AnalyticsSink, OutgoingStat } from './analytics';
import { coalesce, coalesceOneJson } from './coalesce';
import { newId } from '../ids';
import type { ClaimedWorker, StatsBuffer } from './stats-buffer';

export interface FlushOptions {
  /** Workers per claimed batch: bounds one script's time and one analytics write. */
  workersPerBatch: number;
  /**
   * Stats per claimed batch (past it no more workers are taken): a batch is coalesced in the
   * node's event loop, so this bounds how long a flush holds up the node's requests.
   */
  statsPerBatch: number;
  /** A claimed batch not finished within this is handed to the next flush of its shard. */
  leaseMs: number;
}

const YIELD_EVERY_STATS = 100;

export const FLUSH_DEFAULTS: FlushOptions = { workersPerBatch: 250, statsPerBatch: 250, leaseMs: 60_000 };

/**
 * The flush of one shard (LiveKit's FlushStats, one slice of the fleet): claim a batch,
 * coalesce each track's stats per direction into one AnalyticsStat, commit it to
 * analytics under the batch id, finish the batch; until nothing is left. Killed at any
 * point, the batch's lease lapses and the next flush commits it, once.
 */
export class StatsFlusher {
  constructor(
    private readonly buffer: StatsBuffer,
    private readonly analytics: AnalyticsSink,
    private readonly opts: FlushOptions = FLUSH_DEFAULTS,
  ) {}

  private turn: Promise<unknown> = Promise.resolve();

  /**
   * Coalescing is CPU work on the node's event loop, so it yields to waiting requests every
   * 100 stats, and the shard flushes running side by side on a node take turns: were they
   * all to coalesce at once, each yield would let every one of them run a slice first.
   */
  private coalesceInTurn(workers: ClaimedWorker[]): Promise<OutgoingStat[]> {
    const work = async () => {
      const now = Timestamp.now();
      const stats: OutgoingStat[] = [];
      let sinceYield = 0;
      for (const w of workers) {
        stats.push(...collectStats(w, now));
        for (const list of w.tracks.values()) sinceYield += list.length;
        if (sinceYield >= YIELD_EVERY_STATS) {
          sinceYield = 0;
          await new Promise((r) => setImmediate(r));
        }
      }
      return stats;
    };
    const run = this.turn.then(work, work);
    this.turn = run.catch(() => {});
    return run;
  }

  /** Returns the number of AnalyticsStats sent. */
  async flushShard(shard: number): Promise<number> {
    let sent = 0;
    for (;;) {
      const batch = await this.buffer.claim(shard, newId('SB_'), this.opts.workersPerBatch, this.opts.leaseMs, this.opts.statsPerBatch);
      if (!batch) return sent;
      const stats = await this.coalesceInTurn(batch.workers);
      await this.analytics.sendStats(stats, batch.id);
      await this.buffer.finish(shard, batch.id);
      sent += stats.length;
    }
  }
}

/**
 * LiveKit's StatsWorker.collectStats: one coalesced stat per track and direction, stamped.
 * A track's only stat takes the JSON fast path; several stats, or an unusual one, go
 * through the protobuf classes and LiveKit's coalesce().
 */
function collectStats(worker: ClaimedWorker, ts: Timestamp): OutgoingStat[] {
  const out: OutgoingStat[] = [];
  const tsJson = ts.toJson() as string;
  for (const dir of ['in', 'out'] as const) {
    for (const [track, jsons] of worker.tracks) {
      if (!track.startsWith(`${dir}|`)) continue;
      const trackId = track.slice(dir.length + 1);
      const fast = jsons.length === 1 ? coalesceOneJson(JSON.parse(jsons[0])) : undefined;
      if (fast) {
        // field by field what the class path stamps; UPSTREAM is 0, which protobuf JSON omits
        const stamp = { timeStamp: tsJson, trackId, roomId: worker.roomId, participantId: worker.participantId, roomName: worker.roomName };
        for (const [k, v] of Object.entries(stamp)) if (v !== '') fast[k] = v;
        if (dir === 'out') fast.kind = 'DOWNSTREAM';
        out.push(fast);
        continue;
      }
      const coalesced = coalesce(jsons.map((j) => AnalyticsStat.fromJsonString(j, { ignoreUnknownFields: true })));
      if (!coalesced) continue;
      coalesced.timeStamp = ts;
      coalesced.trackId = trackId;
      coalesced.kind = dir === 'out' ? StreamType.DOWNSTREAM : StreamType.UPSTREAM;
      coalesced.roomId = worker.roomId;
      coalesced.participantId = worker.participantId;
      coalesced.roomName = worker.roomName;
      out.push(coalesced);
    }
  }
  return out;
}
