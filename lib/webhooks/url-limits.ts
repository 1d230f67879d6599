import { leaseMs, type LocalSlots } from './local-slots';
import type { WebhookOptions } from './options';
import type { Pickup, RunContext } from './run';
import { webhookUrlTag } from '../webhook-url';

/**
 * A rate turn at most this far off is waited for in the run (its BullMQ slot kept a few
 * ms); a later one holds the run as a delayed job, so the slot goes to other lanes.
 */
export const IN_PLACE_WAIT_MS = 25;
/**
 * A run waiting for a slot is woken by the run leaving one; it asks again after this at
 * the latest (a wake-up lost to a race, or a dead node's lease lapsing).
 */
export const SLOT_RECHECK_MS = 3000;

/**
 * A run refused a slot while this node's own runs hold the URL's slots only briefly (a
 * fast receiver) waits here, up to this long, for one of them to give its slot back:
 * cheaper than a round through BullMQ's delayed set for a wait of a few ms.
 */
export const LOCAL_WAIT_MS = 250;

export { leaseMs };

/** A pickup's lease among its URL's slots: a node still sending for a run another node took over holds its own. */
export const slotLease = (runId: string, token: string) => `${runId}:${token}`;

/** An inline run's lease: its pickups' token is its run id (so its note can take its slot). */
export const inlineSlotLease = (runId: string) => slotLease(runId, runId);

/**
 * Whether an inline run's slot is taken and given back with the other runs' calls to its URL
 * of the moment (run-ledger.ts), its first one with its note: a URL with a cap and no rate
 * limit (a rate turn needs limitWebhookUrl-4.lua).
 */
export const sharesSlots = ({ maxInFlight, rateLimit }: Pick<WebhookOptions, 'maxInFlight' | 'rateLimit'>) => maxInFlight > 0 && rateLimit <= 0;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));



/**
 * A pickup's side of its URL's limits, fleet-wide in Redis under the URL's hash tag
 * (lua/limitWebhookUrl-4.lua): WEBHOOK_MAX_IN_FLIGHT runs sending to one URL at once, and
 * WEBHOOK_RATE_LIMIT events/s to it.
 *
 * BullMQ's worker concurrency is shared by every lane on a node: without a cap per URL, a
 * slow receiver's runs would take every slot and hold up the fast receivers' lanes. A
 * pickup takes a slot (a lease) before it sends and keeps it while it sends its lane's
 * events one after another, renewing it, then gives it back; a run that cannot have one
 * holds as a delayed job (its BullMQ slot given back, no attempt used, its lane untouched,
 * so nothing is reordered) and is woken when a slot is given back. A rate turn comes with
 * each event; one far off holds the run the same way, its turn kept for it.
 */
export class RunLimits {
  /** No limit set: nothing to ask Redis. */
  readonly off: boolean;
  private readonly k: { leases: string; rate: string; waiting: string; reserved: string };
  private readonly perEventMs: number;
  private readonly burst: number;
  private readonly leaseMs: number;
  /** When this pickup's lease lapses (this node's clock, taken early), 0 while it holds none. */
  private leaseUntil = 0;
  private enteredAt = 0;
  private readonly local: LocalSlots;
  /** This pickup's lease among the URL's ('<run id>:<token>'). */
  private readonly lease: string;
  /** An inline run whose slot goes with the node's other calls to the URL (sharesSlots). */
  private readonly shared: boolean;

  constructor(private readonly ctx: RunContext, private readonly pickup: Pickup) {
    const o = ctx.opts;
    this.off = o.maxInFlight <= 0 && o.rateLimit <= 0;
    this.k = ctx.keys.webhookUrlLimits(webhookUrlTag(pickup.data.url));
    this.perEventMs = o.rateLimit > 0 ? 1000 / o.rateLimit : 0;
    this.burst = Math.max(1, Math.ceil(o.rateLimit));
    this.leaseMs = leaseMs(o.timeoutMs);
    this.local = ctx.receivers.of(pickup.data.url).slots;
    this.shared = pickup.inline && sharesSlots(o);
    this.lease = (this.shared ? pickup.slot?.lease : undefined) ?? slotLease(pickup.runId, pickup.token);
  }

  private async ask(mode: 'enter' | 'send' | 'leave', queue = false): Promise<(number | string)[]> {
    const { k, ctx } = this;
    const sentAt = Date.now();
    const reply = (await ctx.redis.limitWebhookUrl(
      k.leases, k.rate, k.waiting, k.reserved, mode, this.pickup.runId, ctx.opts.maxInFlight, this.perEventMs, this.burst, this.leaseMs, IN_PLACE_WAIT_MS,
      this.lease, queue ? 1 : 0,
    )) as (number | string)[];
    if (mode !== 'leave' && reply[0] === 1) this.leaseUntil = sentAt + this.leaseMs;
    return reply;
  }

  /**
   * Before the pickup sends anything: takes a slot and the first event's turn, waiting a
   * few ms for a turn that near; else the job is moved to wait (DelayedError thrown: BullMQ
   * neither counts it failed nor retries it).
   */
  async enter(): Promise<void> {
    if (this.off) return;
    const deadline = Date.now() + LOCAL_WAIT_MS;
    const local = this.local;
    // an inline run of a URL without a rate limit may come with its slot (taken with its note,
    // or handed over), or asks with the node's other calls to the URL of the moment; refused,
    // it asks as any run does
    if (this.shared) {
      const sentAt = Date.now();
      const held = this.pickup.slot;
      if (held || (local.queued === 0 && (await this.ctx.receivers.of(this.pickup.data.url).ledger.open({ slot: this.lease })).slot)) {
        this.leaseUntil = held ? held.until : sentAt + this.leaseMs;
        this.enteredAt = Date.now();
        local.took(this.enteredAt);
        return;
      }
    }
    for (;;) {
      // wait here only when this node's slots of the URL come back soon (a fast receiver);
      // else a refused run is queued in Redis, woken by whichever node gives a slot back
      const left = deadline - Date.now();
      const waitHere = left > 0 && local.expectedWaitMs() <= left;
      // this node's runs already waiting go first
      if (waitHere && local.queued > 0) await local.released(left);
      // an inline run is not queued in Redis: refused, it becomes a job, which is
      const [taken, waitMs, why] = (await this.ask('enter', !waitHere && !this.pickup.inline)).map(Number);
      if (taken === 1) {
        this.enteredAt = Date.now();
        local.took(this.enteredAt);
        return;
      }
      if (why === 2 && waitMs <= IN_PLACE_WAIT_MS) {
        await sleep(waitMs);
        continue;
      }
      if (why === 1 && waitHere) {
        await local.released(Math.max(0, deadline - Date.now()));
        continue;
      }
      const inFlight = why === 1;
      if (inFlight) this.ctx.metrics.limitHolds.inFlight++;
      else this.ctx.metrics.limitHolds.rate++;
      // waiting for a slot: woken when one is given back, this is only the latest recheck;
      // for the rate: its turn, kept for it (a little spread against ties)
      const delay = inFlight ? Math.min(SLOT_RECHECK_MS, Math.max(50, waitMs)) : waitMs;
      // an inline run, not queued for a slot, becomes a job at once, which asks again and is
      if (this.pickup.inline && inFlight) return this.pickup.holdUntil(Date.now());
      return this.pickup.holdUntil(Date.now() + delay + Math.floor(Math.random() * 20));
    }
  }

  /**
   * Before each further event of the pickup: its rate turn (waited for here when near) and
   * the lease renewed before it could lapse mid-attempt. Returns 0 to send now, or the ms
   * to hold the run for (the caller hands the lane back first; see lane-run.ts).
   */
  async beforeSend(): Promise<number> {
    if (this.off) return 0;
    if (this.perEventMs <= 0 && Date.now() + this.ctx.opts.timeoutMs + 500 < this.leaseUntil) return 0;
    const waitMs = Number((await this.ask('send'))[1]);
    if (waitMs <= IN_PLACE_WAIT_MS) {
      if (waitMs > 0) await sleep(waitMs);
      return 0;
    }
    this.ctx.metrics.limitHolds.rate++;
    return waitMs;
  }

  /** Moves the job to come back in `ms`, after the caller handed its lane back. */
  hold(ms: number): Promise<never> {
    return this.pickup.holdUntil(Date.now() + ms + Math.floor(Math.random() * 20));
  }

  /** Gives the slot back (whatever way the pickup ends) and wakes the first run waiting for one. */
  async leave(): Promise<void> {
    if (this.off || this.leaseUntil === 0) return;
    const slot = { lease: this.lease, until: this.leaseUntil };
    this.leaseUntil = 0;
    // a run of this node waiting for the URL takes the slot over: nothing to tell Redis
    if (this.shared && this.pickup.handOver?.(slot)) {
      this.local.left(this.enteredAt);
      return;
    }
    // the lease lapses by itself and a waiter asks again by SLOT_RECHECK_MS: a fault here
    // leaves the run's outcome as it is
    const slip = (err: unknown) => this.ctx.log.warn({ err, url: this.pickup.data.url, run: this.pickup.runId }, 'webhook slot not given back');
    const waiters = this.shared
      ? (await this.ctx.receivers.of(this.pickup.data.url).ledger.settle({ slot: this.lease }).catch((err) => { slip(err); return { woken: [] }; })).woken
      : (await this.ask('leave').catch((err) => { slip(err); return ['']; })).filter(Boolean).map(String);
    // this node's runs waiting for a slot ask once it is free in Redis
    this.local.left(this.enteredAt);
    if (waiters.length > 0) await this.ctx.promoteHeld(waiters).catch(slip);
  }
}
