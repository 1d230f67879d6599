import { Timestamp } from '@bufbuild/protobuf';
import { AnalyticsStat, StreamType } from '@livekit/protocol';
import type { AnalyticsSink, OutgoingStat } from './analytics';
import { coalesce, coalesceOneJson, isValidStat } from './coalesce';
import { newId } from '../ids';
import type { ClaimedBatch, ClaimedWorker, RejectedStat, StatsBuffer } from './stats-buffer';

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
  /**
   * Flushes of one batch that may fail (its lease lapsing each time) before it is given up:
   * moved whole to the stats dead-letter stream, so it does not stay in flight for ever.
   */
  maxTries: number;
  /** Approximate length the stats dead-letter stream is trimmed to. */
  rejectedMaxLen: number;
}

const YIELD_EVERY_STATS = 100;

export const FLUSH_DEFAULTS: FlushOptions = { workersPerBatch: 250, statsPerBatch: 250, leaseMs: 60_000, maxTries: 5, rejectedMaxLen: 100_000 };

/** What a flush did: AnalyticsStats sent, and stats moved to the dead-letter stream. */
export interface FlushTally {
  sent: number;
  rejected: number;
}

interface Collected {
  stats: OutgoingStat[];
  rejected: RejectedStat[];
}

/**
 * The flush of one shard (LiveKit's FlushStats, one slice of the fleet): claim a batch,
 * coalesce each track's stats per direction into one AnalyticsStat, commit it to
 * analytics under the batch id, finish the batch; until nothing is left. Killed at any
 * point, the batch's lease lapses and the next flush commits it, once.
 *
 * A stat that cannot be coalesced goes to the stats dead-letter stream with its reason, and
 * the rest of its batch is sent. A batch whose flush fails `maxTries` times (analytics
 * down, or a fault no stat check foresaw) goes there whole.
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
  private coalesceInTurn(workers: ClaimedWorker[]): Promise<Collected> {
    const work = async () => {
      const now = Timestamp.now();
      const collected: Collected = { stats: [], rejected: [] };
      let sinceYield = 0;
      for (const w of workers) {
        collectStats(w, now, collected);
        for (const list of w.tracks.values()) sinceYield += list.length;
        if (sinceYield >= YIELD_EVERY_STATS) {
          sinceYield = 0;
          await new Promise((r) => setImmediate(r));
        }
      }
      return collected;
    };
    const run = this.turn.then(work, work);
    this.turn = run.catch(() => {});
    return run;
  }

  /** Returns the number of AnalyticsStats sent. */
  async flushShard(shard: number): Promise<number> {
    return (await this.flush(shard)).sent;
  }

  /**
   * Flushes the shard until nothing is left. `tally` is counted up as each batch ends, so
   * a caller that passes its own keeps what was done before a failure.
   */
  async flush(shard: number, tally: FlushTally = { sent: 0, rejected: 0 }): Promise<FlushTally> {
    for (;;) {
      const batch = await this.buffer.claim(shard, newId('SB_'), this.opts.workersPerBatch, this.opts.leaseMs, this.opts.statsPerBatch);
      if (!batch) return tally;
      if (batch.claim > this.opts.maxTries) await this.giveUp(shard, batch, tally);
      else await this.send(shard, batch, tally);
    }
  }

  private async send(shard: number, batch: ClaimedBatch, tally: FlushTally): Promise<void> {
    const { stats, rejected } = await this.coalesceInTurn(batch.workers);
    // a lease that lapsed meanwhile handed the batch to another flush: it commits it, and
    // committing it here after that one finished (its marker dropped) would repeat it
    if (!(await this.buffer.renew(shard, batch.id, batch.claim, this.opts.leaseMs))) return;
    await this.analytics.sendStats(stats, batch.id);
    // after the commit: written first, they would take the batch's id in the dead-letter
    // stream, and were the commit then to keep failing, the batch could not be given up whole
    await this.buffer.reject(batch.id, rejected, this.opts.rejectedMaxLen);
    await this.end(shard, batch, rejected.length > 0);
    tally.sent += stats.length;
    tally.rejected += rejected.length;
  }

  /** Every stat of a batch whose flush kept failing goes to the dead-letter stream. */
  private async giveUp(shard: number, batch: ClaimedBatch, tally: FlushTally): Promise<void> {
    const reason = `flush failed ${batch.claim - 1} times`;
    const rejected: RejectedStat[] = [];
    for (const w of batch.workers) {
      for (const [track, jsons] of w.tracks) {
        const out = track.startsWith('out|');
        const trackId = track.slice(out ? 4 : 3);
        for (const data of jsons) {
          rejected.push({ roomId: w.roomId, participantId: w.participantId, trackId, kind: out ? 'DOWNSTREAM' : 'UPSTREAM', reason, data });
        }
      }
    }
    await this.buffer.reject(batch.id, rejected, this.opts.rejectedMaxLen);
    await this.end(shard, batch, true);
    tally.rejected += rejected.length;
  }

  /**
   * Finishes the batch, then drops the markers that made its commit and its dead letters
   * idempotent: no flush can be handed it any more. A flush that lost the batch to another
   * leaves both to that one.
   */
  private async end(shard: number, batch: ClaimedBatch, rejected: boolean): Promise<void> {
    if (!(await this.buffer.finish(shard, batch.id, batch.claim))) return;
    await Promise.all([
      this.analytics.forgetStatsBatch?.(batch.id),
      rejected ? this.buffer.forgetRejected(batch.id) : undefined,
    ]);
  }
}

const WRAPPED = "a counter reads as wrapped (LiveKit's isValid skips the stat)";

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * coalesceOneJson of a track's only stat, or undefined for the class path. The class path
 * decodes it again, so whatever is wrong with a stat is left to it to name.
 */
function fastPath(json: string): Record<string, unknown> | undefined {
  let stat: unknown;
  try {
    stat = JSON.parse(json);
  } catch {
    return undefined;
  }
  // mime is copied as it is, and a streams object that only looks like an array would be read as one
  if (!isObject(stat) || (stat.mime !== undefined && typeof stat.mime !== 'string') || (stat.streams !== undefined && !Array.isArray(stat.streams))) {
    return undefined;
  }
  try {
    return coalesceOneJson(stat);
  } catch {
    return undefined;
  }
}

/**
 * LiveKit's StatsWorker.collectStats: one coalesced stat per track and direction, stamped.
 * A track's only stat takes the JSON fast path; several stats, or an unusual one, go
 * through the protobuf classes and LiveKit's coalesce(). Each stat is decoded on its own,
 * so one that is not an AnalyticsStat is rejected alone, and the rest of its track is sent.
 */
function collectStats(worker: ClaimedWorker, ts: Timestamp, into: Collected): void {
  const tsJson = ts.toJson() as string;
  for (const dir of ['in', 'out'] as const) {
    const kind = dir === 'out' ? 'DOWNSTREAM' : 'UPSTREAM';
    for (const [track, jsons] of worker.tracks) {
      if (!track.startsWith(`${dir}|`)) continue;
      const trackId = track.slice(dir.length + 1);
      const reject = (data: string, reason: string) => {
        into.rejected.push({ roomId: worker.roomId, participantId: worker.participantId, trackId, kind, reason, data });
      };
      const fast = jsons.length === 1 ? fastPath(jsons[0]) : undefined;
      if (fast) {
        // field by field what the class path stamps; UPSTREAM is 0, which protobuf JSON omits
        const stamp = { timeStamp: tsJson, trackId, roomId: worker.roomId, participantId: worker.participantId, roomName: worker.roomName };
        for (const [k, v] of Object.entries(stamp)) if (v !== '') fast[k] = v;
        if (dir === 'out') fast.kind = 'DOWNSTREAM';
        into.stats.push(fast);
        continue;
      }
      const stats: AnalyticsStat[] = [];
      const kept: string[] = [];
      for (const json of jsons) {
        let stat: AnalyticsStat;
        try {
          stat = AnalyticsStat.fromJsonString(json, { ignoreUnknownFields: true });
        } catch (err) {
          reject(json, `not an AnalyticsStat: ${(err as Error).message}`);
          continue;
        }
        // still handed to coalesce(), which skips it as Go does (and takes its mime if last)
        if (isValidStat(stat)) kept.push(json);
        else reject(json, WRAPPED);
        stats.push(stat);
      }
      let coalesced: AnalyticsStat | undefined;
      try {
        coalesced = coalesce(stats);
      } catch (err) {
        for (const json of kept) reject(json, `cannot be coalesced: ${(err as Error).message}`);
        continue;
      }
      if (!coalesced) continue;
      coalesced.timeStamp = ts;
      coalesced.trackId = trackId;
      coalesced.kind = dir === 'out' ? StreamType.DOWNSTREAM : StreamType.UPSTREAM;
      coalesced.roomId = worker.roomId;
      coalesced.participantId = worker.participantId;
      coalesced.roomName = worker.roomName;
      into.stats.push(coalesced);
    }
  }
}
