import type { RedisClient } from '../redis/connection';
import { Batcher } from './batcher';

/** A lane's keys, as KeySpace.webhookLane names them. */
export interface LaneKeys {
  fifo: string;
  events: string;
  seen: string;
  run: string;
}

/** enqueueWebhook's reply: position (-1: queued before), the run's id ('' : none), 1 if this started it, ms since the run moved. */
export type Enqueued = [number, string, number, number];

/** How a run calls its lane (lua/advanceWebhookLane-3.lua). */
export type LaneMode = 'restart' | 'start' | 'next' | 'hold' | 'yield';

interface Enqueue { lane: LaneKeys; id: string; data: string; windowMs: number; newRunId: string }
interface Advance { lane: LaneKeys; runId: string; token: string; mode: LaneMode; handOut: number; done: string[] }

/**
 * Lanes in one call at most: a call runs whole inside Redis, and one of a few ms would hold
 * up every other client's commands behind it.
 */
export const LANES_PER_CALL = 50;

/**
 * The calls that append to lanes and move their runs on: the two a delivery makes per event.
 * On a Redis that holds every lane (a server, or Sentinel's master), what this node asks
 * within one turn of the event loop goes as one script call (lua/enqueueWebhooks-4+.lua,
 * lua/advanceWebhookLanes-3+.lua): under load, many runs POST at once and end together, and
 * a call costs the node about as much CPU as the work it carries (about 29 µs of client CPU
 * an event one call per event, 12 to 16 µs ten or more to a call, measured here). A cluster
 * spreads lanes over hash slots, and a script touches one slot: there each call goes alone
 * (ioredis pipelines each node's calls).
 */
export class LaneCalls {
  private readonly enqueues: Batcher<Enqueue, Enqueued> | null;
  private readonly advances: Batcher<Advance, unknown> | null;

  constructor(private readonly redis: RedisClient) {
    const batched = !redis.isCluster;
    this.enqueues = batched ? new Batcher((items) => inChunks(items, (chunk) => this.enqueueMany(chunk))) : null;
    this.advances = batched ? new Batcher((items) => inChunks(items, (chunk) => this.advanceMany(chunk))) : null;
  }

  /** Appends an event to its lane (lua/enqueueWebhook-4.lua); resolves once Redis holds it. */
  async enqueue(lane: LaneKeys, id: string, data: string, windowMs: number, newRunId: string): Promise<Enqueued> {
    if (!this.enqueues) return (await this.redis.enqueueWebhook(lane.fifo, lane.events, lane.seen, lane.run, id, data, windowMs, newRunId)) as Enqueued;
    return this.enqueues.add({ lane, id, data, windowMs, newRunId });
  }

  /** Moves a lane's run on (lua/advanceWebhookLane-3.lua): its raw reply. */
  advance(lane: LaneKeys, runId: string, token: string, mode: LaneMode, handOut: number, done: string[] = []): Promise<unknown> {
    if (!this.advances) return this.redis.advanceWebhookLane(lane.fifo, lane.events, lane.run, runId, token, mode, handOut, ...done);
    return this.advances.add({ lane, runId, token, mode, handOut, done });
  }

  private async enqueueMany(items: Enqueue[]): Promise<Enqueued[]> {
    if (items.length === 1) {
      const [{ lane, id, data, windowMs, newRunId }] = items;
      return [(await this.redis.enqueueWebhook(lane.fifo, lane.events, lane.seen, lane.run, id, data, windowMs, newRunId)) as Enqueued];
    }
    // one dedupe window per call: a node's calls share its setting, but a call of another is sent apart
    const windowMs = items[0].windowMs;
    if (items.some((i) => i.windowMs !== windowMs)) return Promise.all(items.map((i) => this.enqueueMany([i]).then(([r]) => r)));
    const keys: string[] = [];
    const argv: (string | number)[] = [windowMs];
    for (const { lane, id, data, newRunId } of items) {
      keys.push(lane.fifo, lane.events, lane.seen, lane.run);
      argv.push(id, data, newRunId);
    }
    return (await this.redis.enqueueWebhooks(keys.length, ...keys, ...argv)) as Enqueued[];
  }

  private async advanceMany(items: Advance[]): Promise<unknown[]> {
    if (items.length === 1) {
      const [{ lane, runId, token, mode, handOut, done }] = items;
      return [await this.redis.advanceWebhookLane(lane.fifo, lane.events, lane.run, runId, token, mode, handOut, ...done)];
    }
    const keys: string[] = [];
    const argv: (string | number)[] = [];
    for (const { lane, runId, token, mode, handOut, done } of items) {
      keys.push(lane.fifo, lane.events, lane.run);
      argv.push(runId, token, mode, handOut, done.length, ...done);
    }
    return (await this.redis.advanceWebhookLanes(keys.length, ...keys, ...argv)) as unknown[];
  }

  /** Sends what waits now, and resolves once every call under way has ended. */
  async drain(): Promise<void> {
    await Promise.all([this.enqueues?.drain(), this.advances?.drain()]);
  }
}

/**
 * Sends `items` LANES_PER_CALL at a time (the calls go out together), one result per item:
 * a chunk that failed answers its items with its error, and only they fail.
 */
async function inChunks<Item, Result>(items: Item[], send: (chunk: Item[]) => Promise<Result[]>): Promise<(Result | Error)[]> {
  const chunks: Item[][] = [];
  for (let i = 0; i < items.length; i += LANES_PER_CALL) chunks.push(items.slice(i, i + LANES_PER_CALL));
  const results = await Promise.all(chunks.map((chunk) => send(chunk).catch((err: unknown) => chunk.map(() => (err instanceof Error ? err : new Error(String(err)))))));
  return results.flat() as (Result | Error)[];
}
