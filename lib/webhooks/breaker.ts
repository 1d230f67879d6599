import type { Pickup, RunContext } from './run';
import { isFinal, type Attempt, type Receiver } from './receivers';
import type { Outcome, UrlStatus } from './url-status';

/**
 * A run's side of its URL's circuit breaker. A URL failing every attempt for
 * WEBHOOK_BREAK_AFTER is paused fleet-wide: runs of its lanes hold (their jobs wait,
 * delayed, attempts and events untouched) except one probe per WEBHOOK_PROBE_EVERY; the
 * first success resumes the URL and promotes the held runs, so each lane goes on in order.
 *
 * It also records what the run's attempts came to (latencies, the failing streak), batched:
 * the deliveries' latencies go with the run's next call to its lane, in parallel.
 */
export class RunBreaker {
  private readonly status: UrlStatus;
  private readonly receiver: Receiver;
  private latencies: number[] = [];
  /** While the URL is paused: ms until its next probe slot, for the held head's retry. */
  probeInMs = 0;

  constructor(private readonly ctx: RunContext, private readonly pickup: Pickup) {
    this.receiver = ctx.receivers.of(pickup.data.url);
    this.status = this.receiver.status;
  }

  /**
   * Before the pickup sends anything: returns whether it is the paused URL's probe; if the
   * URL is paused and the probe slot taken, the job is moved to wait for the next slot
   * (DelayedError thrown: BullMQ neither counts it failed nor retries it).
   */
  async gate(): Promise<boolean> {
    if (this.status.surelyUnpaused()) return false;
    const gate = await this.status.gate(this.pickup.runId);
    if (gate.kind === 'open') return false;
    if (gate.kind === 'probe') {
      this.ctx.metrics.probes++;
      return true;
    }
    // a little spread, so the held runs of a URL do not all ask at the same instant
    return this.pickup.holdUntil(Date.now() + gate.waitMs + Math.floor(Math.random() * 50));
  }

  delivered(latencyMs: number): void {
    this.latencies.push(latencyMs);
  }

  /**
   * Records the deliveries since the last call (nothing to do without any), with what the
   * node's runs settle with the URL within SETTLE_WINDOW_MS (one call).
   */
  async flush(): Promise<void> {
    if (this.latencies.length === 0) return;
    const batch = this.latencies;
    this.latencies = [];
    const sentAt = Date.now();
    const { resumed, held } = await this.receiver.ledger.settle({ latencies: batch });
    this.status.succeeded(sentAt);
    await this.settle({ resumed, pausedNow: false, held });
  }

  /**
   * Records a failed attempt (after the deliveries before it); returns whether the URL is
   * paused, so the event is held for the next probe instead of using up its attempts (an
   * answer that refuses the event for good still gives it up).
   */
  async failed(result: Attempt): Promise<boolean> {
    const batch = this.latencies;
    this.latencies = [];
    const outcome = await this.status.record(this.pickup.runId, batch, result);
    await this.settle(outcome);
    this.probeInMs = outcome.probeInMs;
    return outcome.paused && !isFinal(result);
  }

  /** The held head's attempt does not count against it: the pause, not the event, failed. */
  async refund(headId: string): Promise<void> {
    await this.ctx.redis.refundWebhookAttempt(this.ctx.keys.webhookLane(this.pickup.data.lane).run, this.pickup.runId, this.pickup.token, headId);
  }

  /** The lane drained: off its URL's lanes with work (with what else settles within SETTLE_WINDOW_MS). */
  async drained(): Promise<void> {
    await this.receiver.ledger.settle({ drained: { laneId: this.pickup.data.lane, runId: this.pickup.runId } });
  }

  private async settle(o: Pick<Outcome, 'resumed' | 'pausedNow' | 'held'>): Promise<void> {
    const { log, metrics, opts } = this.ctx;
    const url = this.pickup.data.url;
    if (o.pausedNow) {
      metrics.pauses++;
      log.warn({ url, breakAfterMs: opts.breakAfterMs, probeEveryMs: opts.probeEveryMs }, 'webhook URL paused: every attempt failed for WEBHOOK_BREAK_AFTER; its lanes hold, probed once per WEBHOOK_PROBE_EVERY');
    }
    if (o.resumed) {
      metrics.resumes++;
      log.info({ url, held: o.held.length }, 'webhook URL resumed: a delivery succeeded; its lanes go on in order');
      await this.ctx.promoteHeld(o.held).catch((err) => log.warn({ err, url }, 'held webhook runs not promoted: they go on at their next probe time'));
    }
  }
}
