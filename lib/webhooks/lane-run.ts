import { DelayedError, WaitingError, type Job } from 'bullmq';
import { RunBreaker } from './breaker';
import type { Pickup, RunContext, RunJob, RunProgress } from './run';
import type { WebhookOptions } from './options';
import { describeAttempt, isFinal, succeeded, type LaneEvent } from './receivers';
import { RunLimits } from './url-limits';

export type { Pickup, RunContext, RunJob, RunProgress } from './run';



/** The head failed and is retried after `delayMs` (BullMQ's backoff strategy reads it). */
export class LaneRetry extends Error {
  constructor(message: string, readonly delayMs: number) {
    super(message);
    this.name = 'LaneRetry';
  }
}


/** A BullMQ run job's pickup (`token` is BullMQ's lock token). */
export function jobPickup(job: Job<RunJob>, token: string, closing: () => boolean): Pickup {
  // a job run again from the failed set, its counts reset, must not send its head: it may be long gone
  const first = job.attemptsStarted <= 1 && job.attemptsMade === 0 && !job.finishedOn ? job.data.head : undefined;
  return {
    runId: job.id!, token, data: job.data, first, inline: false,
    mustYield: closing,
    progress: (p) => { job.updateProgress(p).catch(() => undefined); },
    // DelayedError / WaitingError: BullMQ neither counts the job failed nor retries it
    holdUntil: async (at) => { await job.moveToDelayed(at, token); throw new DelayedError(); },
    requeue: async () => { await job.moveToWait(token); throw new WaitingError(); },
  };
}

/** How a run's outcome starts when it emptied its lane (the lane forgot it, and so did its URL's lanes with work). */
export const DRAINED = 'drained';

/** Capped exponential backoff after a failed attempt `attempt` (1 = the first). */
export const backoffMs = ({ baseBackoffMs, maxBackoffMs }: Pick<WebhookOptions, 'baseBackoffMs' | 'maxBackoffMs'>, attempt: number) =>
  Math.min(maxBackoffMs, baseBackoffMs * 2 ** Math.max(0, attempt - 1));

/** When an event was made (ms), for WEBHOOK_MAX_AGE. */
export const bornAt = (event: LaneEvent) => event.createdAtMs ?? event.enqueuedAt;


type Mode = 'start' | 'next' | 'hold' | 'yield';
type LaneReply =
  | { status: -1 }
  | { status: 0 }
  | { status: 1; waiting: number; tries: number; events: { id: string; data: string }[] };

function parseReply(raw: unknown): LaneReply {
  const r = raw as (number | string)[];
  if (r[0] === -1) return { status: -1 };
  if (r[0] === 0) return { status: 0 };
  const events: { id: string; data: string }[] = [];
  for (let i = 3; i + 1 < r.length; i += 2) events.push({ id: String(r[i]), data: String(r[i + 1]) });
  return { status: 1, waiting: Number(r[1]), tries: Number(r[2]), events };
}

interface GivenUp {
  id: string;
  url: string;
  reason: string;
  expired: boolean;
}

/**
 * One pickup of a lane's run: delivers the lane's events one after another, in order, each
 * signed for its attempt, taking them from Redis `runBatch` at a time (events queued
 * meanwhile join); stops when the lane is empty, or at the first failed attempt, which the
 * job retries after a backoff with the event still at the head. An event out of attempts,
 * refused for good (a 4xx but 408/429) or older than WEBHOOK_MAX_AGE becomes a dead letter
 * and the run goes on.
 *
 * Events leave the lane only after they were sent, so a node dying mid-run leaves them to
 * the next pickup (BullMQ's stalled-job recovery): the events it sent and had not yet
 * taken out are sent again, under the same ids, in order. The lane answers only the
 * latest pickup, so a node that lost the job and carries on stops at its next call.
 */
export async function runLane(ctx: RunContext, pickup: Pickup): Promise<string> {
  // the URL's per-URL limits: the pickup's slot is given back however it ends
  const limits = new RunLimits(ctx, pickup);
  try {
    return await deliverLane(ctx, pickup, limits);
  } finally {
    await limits.leave();
  }
}

async function deliverLane(ctx: RunContext, pickup: Pickup, limits: RunLimits): Promise<string> {
  const { lane: laneId, url } = pickup.data;
  const { runId, token } = pickup;
  const o = ctx.opts;
  const lane = ctx.keys.webhookLane(laneId);
  // a paused URL's runs hold here (the job waits for the next probe slot), but its probe
  const breaker = new RunBreaker(ctx, pickup);
  await breaker.gate();
  const receiver = ctx.receivers.of(url);
  // a slot (or the run holds as the breaker holds it), and the URL's unreported dead letters
  // taken meanwhile, in the same round trip
  const [entered, takenFirst] = await Promise.allSettled([limits.enter(), pickup.dropped ?? receiver.takeDropped()]);
  if (entered.status === 'rejected') {
    if (takenFirst.status === 'fulfilled') await receiver.putBackDropped(takenFirst.value);
    throw entered.reason;
  }
  const call = async (mode: Mode, done: string[]): Promise<LaneReply> =>
    parseReply(await ctx.redis.advanceWebhookLane(lane.fifo, lane.events, lane.run, runId, token, mode, o.runBatch, ...done));

  // the event that started the run comes with it: its first pickup sends it before asking
  // the lane anything (it is the head: only this run takes events out)
  const first = pickup.first;
  let handed: LaneReply | null = first ? { status: 1, waiting: 1, tries: 1, events: [first] } : null;
  let mode: Mode = first ? 'next' : 'start';
  let done: string[] = []; // taken care of (delivered or given up), still in the lane
  let givenUp: GivenUp[] = []; // in `done`: counted once the lane says they left it
  // the URL's dead letters this run holds to report
  let dropped = takenFirst.status === 'fulfilled' ? takenFirst.value : 0;
  let moreLikely = false; // more events likely after this batch: the dead letters' count is taken alongside (just taken)
  let delivered = 0;
  let deadLetters = 0;
  let sent = 0; // attempts made by this pickup
  let progressAt = Date.now();

  // the lane confirmed the events in `done` left it: its dead letters are now counted, once
  const countGivenUp = () => {
    for (const g of givenUp) {
      ctx.metrics.deadLetters++;
      if (g.expired) ctx.metrics.expired++;
      ctx.log.warn({ id: g.id, url: g.url, reason: g.reason }, g.expired ? 'webhook too old (dead letter)' : 'webhook given up (dead letter)');
    }
    dropped += givenUp.length;
    deadLetters += givenUp.length;
    givenUp = [];
  };
  const summary = () => `${delivered} delivered, ${deadLetters} dead letter(s)`;
  // the pickup stops: what it leaves with its URL goes in one call with the node's other
  // runs of the next few ms (run-ledger.ts), which the pickup does not wait for: its
  // latencies, its lane if drained, the dead letters it took to report and did not, its slot
  const settle = (drained: boolean) => {
    Promise.all([breaker.flush(), drained ? breaker.drained() : undefined, receiver.putBackDropped(dropped), limits.leave()])
      .catch((err) => ctx.log.warn({ err, url, run: runId }, 'webhook run not settled with its URL: a later run reports its dead letters; its lane and slot go by themselves'));
  };
  // the events done leave the lane, which this pickup stops holding
  const handBack = async (): Promise<LaneReply> => {
    const reply = await call('yield', done);
    if (reply.status !== -1) countGivenUp();
    settle(reply.status === 0);
    return reply;
  };

  for (let round = 0; ; round++) {
    if (round > 0 && pickup.mustYield()) {
      // shutting down, or an inline run's time used: the lane goes back for another pickup
      const reply = await handBack();
      if (reply.status !== 1) return `${reply.status === 0 ? DRAINED : 'taken over'}: ${summary()}`;
      return pickup.requeue();
    }
    let reply: LaneReply;
    if (handed) {
      reply = handed;
      handed = null;
    } else {
      // with more events likely, the latencies so far are recorded meanwhile (not waited for);
      // else they go with the run's settling, in one call
      if (moreLikely) breaker.flush().catch((err) => ctx.log.warn({ err, url, run: runId }, 'webhook latencies not recorded'));
      const [answer, taken]: [LaneReply, number] = await Promise.all([call(mode, done), moreLikely ? receiver.takeDropped() : 0]);
      reply = answer;
      dropped += taken;
    }
    if (reply.status === -1) {
      settle(false);
      return `taken over by a later pickup: ${summary()}`;
    }
    countGivenUp();
    if (reply.status === 0) {
      settle(true);
      return `${DRAINED}: ${summary()}`;
    }
    mode = 'next';
    done = [];
    if (Date.now() - progressAt >= 1000 || (delivered === 0 && reply.waiting > 1)) {
      progressAt = Date.now();
      pickup.progress({ waiting: reply.waiting, delivered });
    }

    for (let i = 0; i < reply.events.length; i++) {
      const { id, data } = reply.events[i];
      if (!data) { // nothing kept to send: it only leaves
        done.push(id);
        continue;
      }
      const d = JSON.parse(data) as LaneEvent;
      // the lane counted the head's earlier attempts (retries, nodes that died sending it)
      const attempt = i === 0 ? reply.tries : 1;
      const giveUp = async (reason: string, attempts: number, expired = false) => {
        await ctx.keepDeadLetter(laneId, id, d, reason, attempts);
        done.push(id);
        givenUp.push({ id, url, reason, expired });
      };
      const age = Date.now() - bornAt(d);
      if (o.maxAgeMs > 0 && age > o.maxAgeMs) {
        await giveUp(`older than WEBHOOK_MAX_AGE (${o.maxAgeMs} ms): made ${age} ms ago`, attempt - 1, true);
        break; // the next delivery reports it
      }
      if (attempt > o.maxAttempts) {
        await giveUp(`out of attempts: ${attempt - 1} started, the last ones by nodes that stopped while sending`, attempt - 1);
        break;
      }

      // the pickup's first attempt went with its slot's first turn; a later turn that is far
      // off holds the run: the lane handed back (done events leave), the head's turn kept.
      // So does a pickup that must yield (the node stops, an inline run used its time),
      // after the event in hand rather than after the whole batch
      const later = sent++ > 0;
      const yieldNow = later && pickup.mustYield();
      const holdMs = later && !yieldNow ? await limits.beforeSend() : 0;
      if (yieldNow || holdMs > 0) {
        const reply = await handBack();
        if (reply.status !== 1) return `taken over by a later pickup: ${summary()}`;
        if (i === 0) await breaker.refund(id); // this pickup counted an attempt of the head it did not make
        return yieldNow ? pickup.requeue() : limits.hold(holdMs);
      }
      const result = await receiver.post(d, dropped);
      if (succeeded(result)) {
        ctx.metrics.recordDelivery(Date.now() - d.enqueuedAt);
        breaker.delivered(Date.now() - d.enqueuedAt);
        dropped = 0;
        delivered++;
        done.push(id);
        continue;
      }
      ctx.metrics.failedAttempts++;
      const reason = describeAttempt(result);
      // its URL paused: the event waits for the probe, its attempts kept for after the pause
      const paused = await breaker.failed(result);
      // a receiver's Retry-After (429, 503) is waited for, up to the longest backoff
      const delay = paused ? breaker.probeInMs : Math.max(backoffMs(o, attempt), Math.min(result.retryAfterMs ?? 0, o.maxBackoffMs));
      if (isFinal(result) || (attempt >= o.maxAttempts && !paused)) {
        await giveUp(`${reason}, attempt ${attempt}`, attempt);
        break;
      }
      if (o.maxAgeMs > 0 && Date.now() + delay - bornAt(d) > o.maxAgeMs) {
        await giveUp(`${reason}, attempt ${attempt}; its retry would come after WEBHOOK_MAX_AGE (${o.maxAgeMs} ms)`, attempt, true);
        break;
      }
      // the event stays at the head; the job is retried after the backoff
      const hold = await call('hold', done);
      settle(false);
      if (hold.status !== 1) return `taken over by a later pickup: ${summary()}`;
      if (paused) await breaker.refund(id);
      ctx.metrics.retries++;
      pickup.progress({ waiting: hold.waiting, delivered, attempts: attempt, lastError: reason });
      throw new LaneRetry(`${reason}, attempt ${attempt} of ${o.maxAttempts}`, delay);
    }
    moreLikely = reply.waiting > done.length;
  }
}
