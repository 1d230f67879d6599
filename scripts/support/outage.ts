import type { FailoverReport } from './topology';
import { fmt } from './table';

/**
 * The outage as the SFU nodes' clients saw it: every request's answer, and the longest
 * stall: a time during which calls were waiting and none of any client was acknowledged
 * (idle times, no call waiting, do not count). Counted from `start()` (the traffic's start).
 */
export class OutageTally {
  answered503 = 0;
  networkErrors = 0;
  /** Requests answered other than 200/204: each is retried (or its call given up). */
  retried = 0;
  longestStall = { ms: 0, from: 0 };
  private pending = 0;
  /** Since when calls have waited with none acknowledged; null while none waits. */
  private stallFrom: number | null = null;
  private t0 = 0;

  start(): void {
    this.t0 = Date.now();
  }

  callStarted(): void {
    if (this.pending++ === 0 && this.stallFrom === null) this.stallFrom = Date.now();
  }

  callEnded(ok: boolean): void {
    this.pending--;
    const now = Date.now();
    if (ok && this.stallFrom !== null) {
      if (this.t0 > 0 && now - this.stallFrom > this.longestStall.ms) this.longestStall = { ms: now - this.stallFrom, from: (this.stallFrom - this.t0) / 1000 };
      this.stallFrom = now;
    }
    if (this.pending === 0) this.stallFrom = null;
  }

  request(status: number | 'network-error'): void {
    if (this.t0 === 0 || status === 200 || status === 204) return; // set-up, or answered
    this.retried++;
    if (status === 503) this.answered503++;
    if (status === 'network-error') this.networkErrors++;
  }

  /** The table's rows for a failover (`f` null: it did not happen). */
  rows(f: FailoverReport | null, waitReplicas: number): (string | number)[][] {
    const at = (t: number) => `${fmt((t - this.t0) / 1000, 1)} s`;
    return [
      ['failover: REDIS_WAIT_REPLICAS', waitReplicas],
      ['failover: master SIGKILLed', f ? `${f.killed} at ${at(f.killedAt)}${f.lagMs > 0 ? ` (its replica cut off ${fmt(f.lagMs)} ms before)` : ''}` : 'not injected'],
      ['failover: replica promoted after', f ? `${fmt(f.promotedMs)} ms (${f.promoted})` : '-'],
      ['failover: killed server back as a replica, in sync, after', f ? `${fmt(f.restoredMs)} ms` : '-'],
      ['outage: requests answered 503 / network errors', `${fmt(this.answered503)} / ${fmt(this.networkErrors)}`],
      ['outage: requests retried (answered other than 200)', fmt(this.retried)],
      ['outage: longest time calls waited and none was acknowledged', `${fmt(this.longestStall.ms)} ms (from ${fmt(this.longestStall.from, 1)} s)`],
    ];
  }
}
