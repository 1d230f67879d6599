/** How many of the latest delivery latencies a node keeps, at least. */
const KEPT_LATENCIES = 10_000;

/** What webhook delivery counts, for the node's metrics exporter to read. */
export class WebhookMetrics {
  delivered = 0;
  failedAttempts = 0;
  retries = 0;
  deadLetters = 0;
  /** Dead letters given up for being older than WEBHOOK_MAX_AGE (counted in deadLetters too). */
  expired = 0;
  /** Circuit breaker: probes this node sent to paused URLs, and the pauses and resumes it caused. */
  probes = 0;
  pauses = 0;
  resumes = 0;
  /** Per-URL limits: pickups this node held (as delayed jobs) for want of a slot, or for the rate. */
  readonly limitHolds = { inFlight: 0, rate: 0 };
  /**
   * Inline runs (sent by this node in-process, without a BullMQ job) started, and runs this
   * node handed to a BullMQ job instead, by why: a retry's backoff or a limit (wait), its time
   * used or the node stopping (yield), no room on the node (busy), its node dead (lapsed).
   */
  readonly inline = { started: 0, handedOn: { wait: 0, yield: 0, busy: 0, lapsed: 0 } };
  /** Enqueue-to-delivery latencies (ms) of the latest deliveries (10,000 to 11,000 of them), newest last. */
  readonly latencies: number[] = [];
  private readonly deliveryListeners: ((latencyMs: number) => void)[] = [];

  /** Calls `listener` with each delivery's enqueue-to-delivery latency (ms), as it is recorded. */
  onDelivery(listener: (latencyMs: number) => void): void {
    this.deliveryListeners.push(listener);
  }

  recordDelivery(latencyMs: number): void {
    this.delivered++;
    this.latencies.push(latencyMs);
    // trimmed by the thousand: one element off the front each time moved the 10,000 others per delivery
    if (this.latencies.length > KEPT_LATENCIES + 1000) this.latencies.splice(0, this.latencies.length - KEPT_LATENCIES);
    for (const listener of this.deliveryListeners) {
      // the webhook is delivered: a metrics fault must not turn it into a retry (a duplicate)
      try { listener(latencyMs); } catch { /* only this one observation is lost */ }
    }
  }

  percentile(percent: number): number {
    if (this.latencies.length === 0) return 0;
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((percent / 100) * sorted.length))];
  }
}
