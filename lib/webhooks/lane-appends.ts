import type { RedisClient } from '../redis/connection';
import type { KeySpace } from '../redis/keys';

/** What the lane answered one appended event. */
export interface Appended {
  /** Its place in the lane (0 = head), or -1: queued before (a duplicate), nothing changed. */
  position: number;
  /** The lane's run ('' when it has none). */
  runId: string;
  /** This event started the run: its caller gives the run its job or sends it inline. */
  started: boolean;
  /** ms since the run last moved (0 for a run just started). */
  idleMs: number;
}

/** Events of one lane in one enqueue call, at most: a call holds Redis for all of them. */
export const MAX_APPENDS_PER_CALL = 100;

interface Pending {
  id: string;
  data: string;
  resolve(a: Appended): void;
  reject(e: unknown): void;
}

interface LaneBatch {
  /** The run id the lane takes if these events start a run (made once, for the first call). */
  newRunId: string;
  events: Pending[];
}

/**
 * Appends events to their lanes. The events a node queues for one lane in the same tick (a
 * burst of one room's events, handed over at once) go to Redis as one enqueue call: each
 * still appended, deduped and answered as if alone, in the order queued. Lanes are never
 * mixed in a call, which touches one lane's keys (one hash slot). A lone event goes out in
 * the same tick, so batching adds no wait: unlike Batcher (batcher.ts), which waits for the
 * next turn and serves one URL, this flushes at the end of the tick and groups by lane.
 */
export class LaneAppends {
  private batches = new Map<string, LaneBatch>();
  private scheduled = false;

  constructor(private readonly redis: RedisClient, private readonly keys: KeySpace, private readonly dedupeWindowMs: number) {}

  /** Appends event `id` to lane `laneId`; `newRunId` names the run it would start. */
  append(laneId: string, id: string, data: string, newRunId: () => string): Promise<Appended> {
    let batch = this.batches.get(laneId);
    if (!batch) this.batches.set(laneId, (batch = { newRunId: newRunId(), events: [] }));
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
    const events = batch.events;
    return new Promise<Appended>((resolve, reject) => { events.push({ id, data, resolve, reject }); });
  }

  private flush(): void {
    const batches = this.batches;
    this.batches = new Map();
    this.scheduled = false;
    for (const [laneId, { newRunId, events }] of batches) {
      // one lane's calls go in order on its connection: a later chunk sees the run an earlier one started
      for (let i = 0; i < events.length; i += MAX_APPENDS_PER_CALL) this.send(laneId, newRunId, events.slice(i, i + MAX_APPENDS_PER_CALL));
    }
  }

  private send(laneId: string, newRunId: string, events: Pending[]): void {
    const lane = this.keys.webhookLane(laneId);
    const args: string[] = [];
    for (const e of events) args.push(e.id, e.data);
    this.redis.enqueueWebhook(lane.fifo, lane.events, lane.seen, lane.run, this.dedupeWindowMs, newRunId, ...args).then(
      (reply) => {
        const r = reply as (string | number)[];
        const runId = String(r[0]);
        const idleMs = Number(r[2]);
        let started = r[1] === 1;
        for (let i = 0; i < events.length; i++) {
          const position = Number(r[3 + i]);
          // the first event appended started the run, if this call started one; a duplicate
          // before it found the lane without a run, as a call of its own would have
          if (started && position === -1) {
            events[i].resolve({ position, runId: '', started: false, idleMs: 0 });
            continue;
          }
          events[i].resolve({ position, runId, started, idleMs });
          started = false;
        }
      },
      (err) => { for (const e of events) e.reject(err); },
    );
  }
}
