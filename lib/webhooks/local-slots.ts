/** A lease outlives an attempt in progress (the request timeout) with room for renewing it. */
export const leaseMs = (timeoutMs: number) => 2 * timeoutMs + 1000;

/** What this node knows of one URL's slots: its own leases, how long they are held, its runs waiting for one. */
export class LocalSlots {
  /** When each lease this node holds was taken. */
  private readonly since: number[] = [];
  /** How long this node's pickups held a slot of the URL (ms, moving average). */
  private holdMs = 0;
  private readonly waiters: (() => void)[] = [];

  get queued(): number {
    return this.waiters.length;
  }

  /**
   * How long a run joining this node's queue would likely wait for one of this node's
   * slots to come back: they turn over about every holdMs (at least as long as the oldest
   * one is held already, so a receiver turning slow counts at once). No slot: no end.
   */
  expectedWaitMs(): number {
    if (this.since.length === 0) return Infinity;
    const turn = Math.max(this.holdMs, Date.now() - Math.min(...this.since));
    return (turn * (this.waiters.length + 1)) / this.since.length;
  }

  /** Resolves when one of this node's runs gives a slot back (the first waiter first), or after `ms`. */
  released(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        const at = this.waiters.indexOf(wake);
        if (at >= 0) this.waiters.splice(at, 1);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.waiters.push(wake);
    });
  }

  took(at: number): void {
    this.since.push(at);
  }

  left(at: number): void {
    const i = this.since.indexOf(at);
    if (i >= 0) this.since.splice(i, 1);
    this.holdMs = 0.8 * this.holdMs + 0.2 * (Date.now() - at);
    this.waiters[0]?.();
  }
}
