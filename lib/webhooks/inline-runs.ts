import type { Logger } from 'pino';
import { newId } from '../ids';
import { DRAINED, LaneRetry, runLane, type Pickup, type RunContext, type RunJob } from './lane-run';
import type { Slot } from './run';
import { SETTLE_WINDOW_MS } from './run-ledger';
import type { WebhookMetrics } from './metrics';
import type { SpareSlotFlags } from './spare-slots';
import { laneOfRun } from './url-status';
import { inlineSlotLease, leaseMs } from './url-limits';

/**
 * An inline run sends for at most this long after its enqueue, then hands its lane to a
 * BullMQ job: it stays well inside its deadline, and a long lane goes on where the fleet
 * can share it.
 */
export const INLINE_BUDGET_MS = 5000;
/**
 * A run that sent for this long while runs of its URL wait for a slot on its node steps
 * back behind them (its lane kept, nothing asked of Redis): a busy lane does not keep a
 * slot while quiet ones wait.
 */
export const INLINE_TURN_MS = 50;
/**
 * A run waits on its node for an inline slot at most this long after its enqueue (far
 * inside its deadline, so no other node can have taken its lane), then goes to a job.
 */
export const INLINE_WAIT_MS = 2000;
/**
 * Inline runs at once on one node (each is a promise waiting on Redis or its POST): twice a
 * node's BullMQ slots, so that a URL at its WEBHOOK_MAX_IN_FLIGHT still leaves room for the others.
 */
export const INLINE_SLOTS = 200;
/** Runs waiting for an inline slot on one node, at most: beyond, a new run goes to a job at once. */
export const INLINE_QUEUE = 5000;
/** How often a delivering node looks for inline runs whose node died. */
export const INLINE_SWEEP_MS = 1000;

/** Inline run ids look like BullMQ run ids ('inline.<lane>.<id>'), so laneOfRun reads both. */
export const isInlineRun = (runId: string) => runId.startsWith('inline.');
export const newInlineRunId = (laneId: string) => `inline.${laneId}.${newId('')}`;

/**
 * An inline run may be taken over by another node this long after its enqueue (its node
 * died): it starts within INLINE_WAIT_MS (or INLINE_BUDGET_MS, taking its turn again), and
 * stops sending by INLINE_BUDGET_MS but for the attempt in hand.
 */
export const inlineDeadline = (timeoutMs: number, enqueuedAt = Date.now()) =>
  enqueuedAt + Math.max(INLINE_WAIT_MS, INLINE_BUDGET_MS) + leaseMs(timeoutMs);

type HandOnReason = keyof WebhookMetrics['inline']['handedOn'];

interface Waiting {
  runId: string;
  run: RunJob;
  dropped?: number;
  /** When it joined the queue, and when its run's first event was queued. */
  at: number;
  enqueuedAt: number;
}

/** A slot kept on the node for its URL's next run, since when. */
interface Spare extends Slot {
  since: number;
}

/** Thrown by an inline pickup that handed its lane to a BullMQ job: the run is over here. */
class HandedOff extends Error {}
/** Thrown by an inline pickup that stepped back behind the runs waiting for its URL. */
class StepBack extends Error {}

export interface InlineRunsParts {
  ctx: RunContext;
  log: Logger;
  /** Inline runs at once on this node: beyond it, a new run goes to the queue at once. */
  maxRunning: number;
  /**
   * Gives the lane whose run is `runId` a BullMQ run job, due in `delayMs`, if the lane
   * still names `runId` (of several nodes asking, one does).
   */
  handOff(runId: string, run: RunJob, delayMs: number): Promise<void>;
}

/**
 * The runs this node sends in-process. Most lanes hold one event at a time (a room's
 * events are seconds apart): a BullMQ job for each would cost more than the POST (add,
 * fetch, complete: six calls to Redis and a worker's turn). So the enqueue that finds a lane
 * without a run records an *inline* run instead: the lane names it, and the URL's index
 * keeps it with a deadline, in Redis before the caller is answered; then the node's
 * delivery sends the lane's events at once, through the same code as a job's run
 * (lane-run.ts), and hands the lane to a BullMQ job when it needs to wait (a retry's
 * backoff, a per-URL limit, a paused URL), when it used its time, or when the node stops.
 *
 * A node that dies mid-run leaves the index entry behind: past its deadline, any
 * delivering node's sweep gives the lane a BullMQ job (the lane fences the dead run out),
 * as BullMQ's stalled-job check does for a job's run.
 */
export class InlineRuns {
  private readonly running = new Set<Promise<void>>();
  /** Inline runs started and not over, on this node: in all, and per URL. */
  private active = 0;
  private readonly activeOf = new Map<string, number>();
  /** Runs waiting for an inline slot, per URL, oldest first (a URL at its cap holds up only its own). */
  private readonly waiting = new Map<string, Waiting[]>();
  /**
   * Slots of a URL held here for its next runs: taken with a run's note, or handed over by a
   * run that ended. Each goes to the next run of the URL to start, or back to Redis after
   * SETTLE_WINDOW_MS (several in one call): a burst's runs take them over without asking Redis.
   */
  private readonly spare = new Map<string, Spare[]>();
  private lingering: NodeJS.Timeout | null = null;
  /** Where spareFor is published for another thread's enqueues (shareSpares). */
  private published: SpareSlotFlags | null = null;
  private waitingCount = 0;
  private wakeUp: NodeJS.Timeout | null = null;
  private sweeper: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly p: InlineRunsParts) {}

  /** Sends the lane's events now, or as soon as this node has room; else hands it to a job. */
  run(runId: string, run: RunJob, dropped = 0, slotAt = 0): void {
    const now = Date.now();
    const waiting: Waiting = { runId, run, dropped, at: now, enqueuedAt: now };
    const slot = slotAt > 0 ? { lease: inlineSlotLease(runId), until: slotAt + leaseMs(this.p.ctx.opts.timeoutMs) } : undefined;
    if (this.closed || this.waitingCount >= INLINE_QUEUE) {
      this.toJob(waiting);
      if (slot) this.giveBack(run.url, [slot]);
      return;
    }
    if (slot) this.keep(run.url, slot);
    this.enqueue(waiting);
    this.next();
  }

  /**
   * Whether a run of `url` starting now would find a slot held here (one more than the runs
   * waiting for the URL, with time left for an attempt): its note need not take one from
   * Redis. A guess (runs noted meanwhile may take it first): a run that finds none asks for
   * one as it starts.
   */
  spareFor(url: string): boolean {
    const spares = this.spare.get(url);
    if (!spares || spares.length <= (this.waiting.get(url)?.length ?? 0)) return false;
    return spares[spares.length - 1].until - Date.now() >= this.p.ctx.opts.timeoutMs + 1000;
  }

  /**
   * Publishes spareFor of each of the flags' URLs, for the enqueues of another thread: under
   * `npm start` the API thread notes the runs this thread sends.
   */
  shareSpares(flags: SpareSlotFlags): void {
    this.published = flags;
    for (const url of flags.urls) this.publish(url);
  }

  private publish(url: string): void {
    this.published?.set(url, !this.closed && this.spareFor(url));
  }

  /** A slot held here for the next run of its URL to start (see next), or given back shortly. */
  private keep(url: string, slot: Slot): void {
    let spares = this.spare.get(url);
    if (!spares) this.spare.set(url, (spares = []));
    spares.push({ ...slot, since: Date.now() });
    this.lingering ??= setTimeout(() => this.giveBackLingering(), SETTLE_WINDOW_MS);
    this.publish(url);
  }

  /** A slot of a run ending stays on the node for its URL's next run, and goes back shortly if none starts. */
  private handOver(url: string, slot: Slot): boolean {
    if (this.closed) return false;
    this.keep(url, slot);
    return true;
  }

  /** The slots kept for SETTLE_WINDOW_MS that no run started with go back, several in one call. */
  private giveBackLingering(): void {
    this.lingering = null;
    const now = Date.now();
    for (const [url, spares] of this.spare) {
      const stale = spares.filter((s) => now - s.since >= SETTLE_WINDOW_MS);
      const fresh = spares.filter((s) => now - s.since < SETTLE_WINDOW_MS);
      if (fresh.length > 0) this.spare.set(url, fresh);
      else this.spare.delete(url);
      if (stale.length > 0) this.giveBack(url, stale);
      this.publish(url);
    }
    if (this.spare.size > 0) this.lingering = setTimeout(() => this.giveBackLingering(), SETTLE_WINDOW_MS);
  }

  /** Slots no run here can use now go back to Redis, and the runs waiting there for one go on. */
  private giveBack(url: string, slots: Slot[]): void {
    const { ctx, log } = this.p;
    const ledger = ctx.receivers.of(url).ledger;
    this.track(Promise.all(slots.map(async ({ lease }) => {
      const { woken } = await ledger.settle({ slot: lease });
      if (woken.length > 0) await ctx.promoteHeld(woken);
    })).then(() => undefined, (err) => {
      // the lease lapses by itself, and a run waiting for one asks again by SLOT_RECHECK_MS
      log.warn({ err, url }, 'webhook slot not given back');
    }));
  }

  private enqueue(w: Waiting): void {
    let queue = this.waiting.get(w.run.url);
    if (!queue) this.waiting.set(w.run.url, (queue = []));
    queue.push(w);
    this.waitingCount++;
  }

  /**
   * Starts the runs waiting while this node has slots (WEBHOOK_MAX_IN_FLIGHT per URL, as the
   * fleet-wide cap allows at most that many anyway); hands on those that waited too long.
   */
  private next(): void {
    const now = Date.now();
    const perUrl = this.p.ctx.opts.maxInFlight > 0 ? this.p.ctx.opts.maxInFlight : Infinity;
    let oldest = Infinity;
    for (const [url, queue] of this.waiting) {
      while (queue.length > 0) {
        const head = queue[0];
        // too late to start inside the deadline: a first pickup by INLINE_WAIT_MS, one taking its turn again by INLINE_BUDGET_MS
        const late = this.closed || now - head.at > INLINE_WAIT_MS || now - head.enqueuedAt > INLINE_BUDGET_MS;
        if (!late && (this.active >= this.p.maxRunning || (this.activeOf.get(url) ?? 0) >= perUrl)) break;
        queue.shift();
        this.waitingCount--;
        const { runId, run, dropped, enqueuedAt } = head;
        if (late) {
          this.toJob(head);
          continue;
        }
        // a slot held here already, with time left for an attempt (one near its end goes back)
        const spares = this.spare.get(url) ?? [];
        let slot: Slot | undefined = spares.pop();
        while (slot && slot.until - now < this.p.ctx.opts.timeoutMs + 1000) {
          this.giveBack(url, [slot]);
          slot = spares.pop();
        }
        if (slot) slot = { lease: slot.lease, until: slot.until };
        this.active++;
        this.p.ctx.metrics.inline.started++;
        this.activeOf.set(url, (this.activeOf.get(url) ?? 0) + 1);
        this.track(this.drive(runId, run, dropped, slot, enqueuedAt).finally(() => {
          this.active--;
          this.activeOf.set(url, (this.activeOf.get(url) ?? 1) - 1);
          this.next();
        }));
      }
      if (queue.length === 0) this.waiting.delete(url);
      else oldest = Math.min(oldest, queue[0].at);
      this.publish(url);
    }
    // the waiting ones go to jobs in time even if no run ends meanwhile
    if (this.wakeUp) clearTimeout(this.wakeUp);
    this.wakeUp = oldest < Infinity ? setTimeout(() => this.next(), Math.max(1, oldest + INLINE_WAIT_MS + 1 - now)) : null;
  }

  private track(p: Promise<void>): void {
    const done = p.finally(() => this.running.delete(done));
    this.running.add(done);
  }

  /**
   * A run this node will not send (no room, too late, closing) goes to a job at once; the
   * slot and the dead letters taken for it go back (the job asks for its own).
   */
  private toJob({ runId, run, dropped = 0 }: Waiting): void {
    this.track(this.handOn(runId, run, 0, 'busy').then(async () => {
      await this.p.ctx.receivers.of(run.url).putBackDropped(dropped).catch(() => undefined);
    }));
  }

  private async drive(runId: string, run: RunJob, dropped: number | undefined, slot: Slot | undefined, enqueuedAt: number): Promise<void> {
    const { ctx, log } = this.p;
    const startedAt = Date.now();
    const outOfTime = () => this.closed || ctx.closing() || Date.now() - enqueuedAt >= INLINE_BUDGET_MS;
    const handOff = async (at: number, why: HandOnReason): Promise<never> => {
      await this.p.handOff(runId, run, Math.max(0, at - Date.now()));
      ctx.metrics.inline.handedOn[why]++;
      throw new HandedOff();
    };
    const pickup: Pickup = {
      runId, token: runId, data: run, first: run.head, dropped, slot, inline: true,
      handOver: (ending) => this.handOver(run.url, ending),
      mustYield: () => outOfTime() || (Date.now() - startedAt >= INLINE_TURN_MS && this.waiting.has(run.url)),
      progress: () => undefined, // nothing shows an inline run: it is over in a moment
      holdUntil: (at) => handOff(at, 'wait'),
      requeue: async () => {
        if (outOfTime()) return handOff(Date.now(), 'yield');
        throw new StepBack();
      },
    };
    try {
      // drained, the lane's run forgot it (and its URL's index): nothing left to tidy
      if ((await runLane(ctx, pickup)).startsWith(DRAINED)) return;
    } catch (e) {
      if (e instanceof StepBack) {
        // the lane handed back, still named by this run: its next pickup asks the lane for its events
        this.enqueue({ runId, run: { lane: run.lane, url: run.url, key: run.key }, at: Date.now(), enqueuedAt });
        return;
      }
      if (!(e instanceof HandedOff)) {
        // a failed attempt waits for its retry as a job; anything else (Redis unreachable
        // mid-run) is retried soon, as a job's run would be
        if (!(e instanceof LaneRetry)) log.warn({ err: e, run: runId, lane: run.lane }, 'inline webhook run cut short: its lane goes to a job');
        const delayMs = e instanceof LaneRetry ? e.delayMs : ctx.opts.baseBackoffMs;
        if (!(await this.handOn(runId, run, delayMs, 'wait', false))) return;
      }
    }
    await this.forget(runId, run.url);
  }

  /** Hands the lane on; false (logged) when Redis could not be told: the sweep does it past the deadline. */
  private async handOn(runId: string, run: RunJob, delayMs: number, why: HandOnReason, forget = true): Promise<boolean> {
    try {
      await this.p.handOff(runId, run, delayMs);
      this.p.ctx.metrics.inline.handedOn[why]++;
    } catch (err) {
      this.p.log.warn({ err, run: runId, lane: run.lane }, 'inline webhook run not handed to a job: another node takes its lane past its deadline');
      return false;
    }
    if (forget) await this.forget(runId, run.url);
    return true;
  }

  private async forget(runId: string, url: string): Promise<void> {
    // an entry left behind is taken by the sweep, which finds its lane moved on
    await this.p.ctx.receivers.of(url).status.forgetInlineRun(runId).catch(() => undefined);
  }

  /** Starts looking, every INLINE_SWEEP_MS, for the inline runs of dead nodes of `urls`. */
  startSweeping(urls: string[]): void {
    this.closed = false;
    if (this.sweeper || urls.length === 0) return;
    const sweep = async () => {
      for (const url of urls) {
        const status = this.p.ctx.receivers.of(url).status;
        for (const runId of await status.lapsedInlineRuns()) {
          this.p.log.warn({ run: runId, url }, 'inline webhook run lapsed (its node stopped mid-run?): its lane goes to a job');
          await this.p.handOff(runId, { lane: laneOfRun(runId), url, key: '(its inline run lapsed)' }, 0);
          this.p.ctx.metrics.inline.handedOn.lapsed++;
          await status.forgetInlineRun(runId);
        }
      }
    };
    const tick = () => {
      sweep()
        .catch((err) => this.p.log.warn({ err }, 'inline webhook runs not swept: next time'))
        .finally(() => { if (this.sweeper) this.sweeper = setTimeout(tick, INLINE_SWEEP_MS + Math.random() * 200); });
    };
    this.sweeper = setTimeout(tick, INLINE_SWEEP_MS * Math.random());
  }

  /** Stops taking inline runs; the ones under way hand their lanes on after the event in hand. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.sweeper) clearTimeout(this.sweeper);
    this.sweeper = null;
    this.next(); // the waiting ones go to jobs
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
    // the slots kept go back
    if (this.lingering) clearTimeout(this.lingering);
    this.lingering = null;
    for (const [url, spares] of this.spare) this.giveBack(url, spares);
    this.spare.clear();
    this.published?.clear();
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
