import { WebhookEvent } from '@livekit/protocol';
import type { Job, Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { RedisClient } from '../redis/connection';
import type { KeySpace } from '../redis/keys';
import { eventKey } from './event-key';
import type { RunJob } from './lane-run';
import type { WebhookOptions } from './options';
import type { LaneEvent } from './receivers';
import { isInlineRun } from './inline-runs';
import { LaneAppends } from './lane-appends';
import { ReplayLease } from './replay-lease';
import type { Receivers } from './receivers';
import { laneOfRun } from './url-status';
import { webhookUrlTag } from '../webhook-url';

/** One URL as GET /v1/webhooks shows it. */
export interface UrlReport {
  url: string;
  /** The URL's tag: logs show the URL by its origin and this (`wu:<tag>`), and a replay may name it so. */
  tag: string;
  /** Events waiting in the URL's lanes (those being sent included). */
  queued: number;
  /** Lanes whose run is sending (one event each at a time). */
  inFlight: number;
  /** Age of the oldest event waiting (ms); null when none waits. */
  oldestQueuedAgeMs: number | null;
  /** Since when every attempt failed (ISO); null after a success. */
  failingSince: string | null;
  paused: boolean;
  pausedSince: string | null;
  /** While paused: ms until the next probe may go. */
  nextProbeInMs: number | null;
  /** Dead letters kept (retryable, replayable). */
  deadLetters: number;
  lastError: { status: number; message: string; at: string } | null;
  /** Enqueue-to-delivery latency of the URL's latest deliveries (up to LATENCY_SAMPLES). */
  latencyMs: { p50: number | null; p99: number | null; samples: number };
}

export interface ReplayRequest {
  url: string;
  sinceMs: number;
  untilMs: number;
  /** Only dead letters of this webhook event name. */
  event?: string;
}

/** What WebhookOperations needs of the delivery: the queue of a lane's jobs, and making a run's job. */
export interface OperationsDeps {
  redis: RedisClient;
  keys: KeySpace;
  opts: WebhookOptions;
  log: Logger;
  receivers: Receivers;
  queueOf(laneId: string): Queue;
  newRunId(laneId: string): string;
  addRun(runId: string, run: RunJob): Promise<void>;
}

/** A dead letter found to replay: its entry in the URL's index, its event and its failed job. */
interface ReplayedLetter {
  entry: string;
  laneId: string;
  id: string;
  givenUpAt: number;
  event: string;
  enqueuedAt: number;
  key: string;
  job: Job;
}

/** Dead letters a replay looks up, or members one ZREM takes, at once. */
const REPLAY_CHUNK = 500;

/** `items` in runs of `size`. */
const chunksOf = <T>(items: T[], size: number): T[][] => {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
};

/** `work` over `items`, `size` at a time: each chunk's calls in flight together, `between` after each. Answers in order. */
async function inChunks<T, R>(items: T[], size: number, work: (item: T) => Promise<R>, between?: () => Promise<void>): Promise<R[]> {
  const results: R[] = [];
  for (const chunk of chunksOf(items, size)) {
    results.push(...(await Promise.all(chunk.map(work))));
    await between?.();
  }
  return results;
}

/** A dead letter's entry in its URL's index is '<lane>|<delivery id>': the lane names its queue shard. */
const splitEntry = (entry: string) => {
  const i = entry.indexOf('|');
  return { laneId: entry.slice(0, i), id: entry.slice(i + 1) };
};

const iso = (ms: string | undefined | null) => (ms ? new Date(Number(ms)).toISOString() : null);

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * What operators see and do with webhook delivery, from Redis alone (any node answers,
 * the API thread included): each URL's state, and replaying its dead letters. Reads cost
 * O(URLs + lanes with work), never a walk over the keyspace.
 */
export class WebhookOperations {
  /** Replay's own: its events start job runs, never mixed in a call with the node's inline ones. */
  private readonly appends: LaneAppends;

  constructor(private readonly d: OperationsDeps) {
    this.appends = new LaneAppends(d.redis, d.keys, d.opts.dedupeWindowMs);
  }

  /** The configured URLs (WEBHOOK_URLS). */
  get urls(): readonly string[] {
    return this.d.opts.urls;
  }

  /** URLs the circuit breaker holds paused now (fleet). */
  async pausedUrls(): Promise<number> {
    const paused = await Promise.all(this.d.opts.urls.map((u) => this.d.redis.hexists(this.d.receivers.of(u).status.keys.status, 'paused')));
    return paused.filter((p) => p === 1).length;
  }

  async report(): Promise<UrlReport[]> {
    return Promise.all(this.d.opts.urls.map((url) => this.reportOf(url)));
  }

  private async reportOf(url: string): Promise<UrlReport> {
    const { redis } = this.d;
    const k = this.d.receivers.of(url).status.keys;
    const [status, latencies, deadLetters, lanes, probeTtl] = await Promise.all([
      redis.hgetall(k.status), redis.lrange(k.latency, 0, -1), redis.zcard(k.dead), redis.hgetall(k.lanes), redis.pttl(k.probe),
    ]);
    const now = Date.now();
    let queued = 0;
    let inFlight = 0;
    let oldest: number | null = null;
    await Promise.all(Object.entries(lanes).map(async ([laneId, runId]) => {
      const lane = this.d.keys.webhookLane(laneId);
      const [length, head, run] = await Promise.all([redis.llen(lane.fifo), redis.lindex(lane.fifo, 0), redis.hget(lane.run, 'job')]);
      if (length === 0 && !run) {
        // drained without its run saying so (a lane restarted empty): off the list, unless a new run took it
        await this.d.receivers.of(url).ledger.settle({ drained: { laneId, runId } });
        return;
      }
      queued += length;
      // an inline run is a node sending the lane's events in-process: in flight while the lane names it
      const [headData, state] = await Promise.all([
        this.headData(lane, head),
        run && isInlineRun(run) ? 'active' : run ? this.d.queueOf(laneId).getJobState(run) : 'unknown',
      ]);
      if (state === 'active') inFlight++;
      if (headData) {
        const enqueuedAt = (JSON.parse(headData) as LaneEvent).enqueuedAt;
        if (oldest === null || enqueuedAt < oldest) oldest = enqueuedAt;
      }
    }));
    const sorted = latencies.map(Number).sort((a, b) => a - b);
    const paused = status.paused !== undefined;
    return {
      url, tag: webhookUrlTag(url), queued, inFlight, oldestQueuedAgeMs: oldest === null ? null : Math.max(0, now - oldest),
      failingSince: iso(status.failingSince), paused, pausedSince: iso(status.paused),
      nextProbeInMs: paused ? Math.max(0, probeTtl) : null,
      deadLetters,
      lastError: status.lastErrorAt
        ? { status: Number(status.lastStatus ?? 0), message: status.lastError ?? '', at: iso(status.lastErrorAt)! }
        : null,
      latencyMs: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), samples: sorted.length },
    };
  }

  /** The data of the lane's head; if it was delivered while read, of the new head (a few tries). */
  private async headData(lane: { fifo: string; events: string }, head: string | null): Promise<string | null> {
    for (let i = 0; head && i < 3; i++) {
      const data = await this.d.redis.hget(lane.events, head);
      if (data) return data;
      head = await this.d.redis.lindex(lane.fifo, 0);
    }
    return null;
  }

  /**
   * Re-queues the URL's dead letters given up within [since, until] (of one event name, if
   * given) into their lanes, under their original delivery ids, in the order they were first
   * queued: each lane sends them in that order, after what it holds already. Their dead-letter
   * jobs go (a later failure makes a new one). Answers how many were re-queued.
   */
  async replay(request: ReplayRequest): Promise<number> {
    const k = this.d.receivers.of(request.url).status.keys;
    const lease = new ReplayLease(this.d.redis, k.replay);
    await lease.take();
    try {
      return await this.replayHeld(request, lease);
    } finally {
      await lease.end().catch((err) => this.d.log.warn({ err, url: request.url }, 'webhook replay lease not ended: it expires by itself'));
    }
  }

  private async replayHeld(request: ReplayRequest, lease: ReplayLease): Promise<number> {
    const { redis, keys, log } = this.d;
    const k = this.d.receivers.of(request.url).status.keys;
    const entries = await redis.zrangebyscore(k.dead, request.sinceMs, request.untilMs, 'WITHSCORES');
    const window: { entry: string; givenUpAt: number }[] = [];
    for (let i = 0; i + 1 < entries.length; i += 2) window.push({ entry: entries[i], givenUpAt: Number(entries[i + 1]) });
    // each dead letter's job and state, asked for a chunk at a time: the round trips overlap
    const looked = await inChunks(window, REPLAY_CHUNK, async ({ entry, givenUpAt }) => {
      const { laneId, id } = splitEntry(entry);
      const job = await this.d.queueOf(laneId).getJob(id);
      return { entry, laneId, id, givenUpAt, job: job && (await job.getState()) === 'failed' ? job : undefined };
    }, () => lease.renew());
    // gone with BullMQ's retention, or retried from the dashboard meanwhile: nothing to replay
    await this.removeAll(k.dead, looked.filter((l) => !l.job).map((l) => l.entry));
    const found: ReplayedLetter[] = [];
    for (const l of looked) {
      if (!l.job) continue;
      const data = l.job.data as LaneEvent;
      const event = WebhookEvent.fromJsonString(data.event, { ignoreUnknownFields: true });
      if (request.event && event.event !== request.event) continue;
      found.push({ entry: l.entry, laneId: l.laneId, id: l.id, givenUpAt: l.givenUpAt, event: data.event, enqueuedAt: data.enqueuedAt, key: eventKey(event), job: l.job });
    }
    // first queued first; within a lane, dead letters were given up in lane order
    found.sort((a, b) => a.enqueuedAt - b.enqueuedAt || a.givenUpAt - b.givenUpAt);

    // still the URL's one replay, and for long enough to re-queue: no other finds these dead letters meanwhile
    await lease.renew();
    // the ids were seen when first queued: replay is the one re-queueing their dedupe refuses
    const idsByLane = new Map<string, string[]>();
    for (const f of found) {
      const ids = idsByLane.get(f.laneId);
      if (ids) ids.push(f.id);
      else idsByLane.set(f.laneId, [f.id]);
    }
    await Promise.all([...idsByLane].map(([laneId, ids]) => this.removeAll(keys.webhookLane(laneId).seen, ids)));
    // queued afresh (WEBHOOK_MAX_AGE and the latency count from the replay), all in this tick:
    // each lane takes its events in order, up to MAX_APPENDS_PER_CALL to an enqueue call
    const now = Date.now();
    const appended = await Promise.all(found.map((f) => {
      const data: LaneEvent = { lane: f.laneId, url: request.url, event: f.event, enqueuedAt: now, createdAtMs: now };
      return this.appends.append(f.laneId, f.id, JSON.stringify(data), () => this.d.newRunId(f.laneId));
    }));
    await Promise.all(appended.map((a, i) => (a.started ? this.d.addRun(a.runId, { lane: found[i].laneId, url: request.url, key: found[i].key }) : undefined)));
    const replayed = appended.filter((a) => a.position !== -1).length;
    // the dead letters go once their events are queued again: a crash before leaves them replayable
    // (the lease renewed meanwhile: a long removal must not let another replay find them)
    await inChunks(found, REPLAY_CHUNK, (f) => f.job.remove(), () => lease.renew().catch((err) => log.warn({ err: (err as Error).message, url: request.url }, 'webhook replay lease lost while its dead letters go')));
    await this.removeAll(k.dead, found.map((f) => f.entry));
    if (found.length > 0) log.info({ url: request.url, since: new Date(request.sinceMs).toISOString(), until: new Date(request.untilMs).toISOString(), event: request.event ?? null, replayed }, 'webhook dead letters replayed');
    return replayed;
  }

  /** Takes `members` out of the sorted set `key`, REPLAY_CHUNK to a call. */
  private async removeAll(key: string, members: string[]): Promise<void> {
    for (const some of chunksOf(members, REPLAY_CHUNK)) await this.d.redis.zrem(key, ...some);
  }

  /** Runs held while a URL was paused: promoted now it resumed, so their lanes go on at once. */
  async promoteHeld(runIds: string[]): Promise<void> {
    await Promise.all(runIds.map(async (runId) => {
      const job = await this.d.queueOf(laneOfRun(runId)).getJob(runId);
      if (job && (await job.isDelayed())) await job.promote().catch(() => undefined); // already moved on: nothing to promote
    }));
  }
}
