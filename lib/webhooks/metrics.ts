/** What webhook delivery counts, for the node's metrics exporter to read. */
export class WebhookMetrics {
  delivered = 0;
  failedAttempts = 0;
  retries = 0;
  deadLetters = 0;
  /** Enqueue-to-delivery latencies (ms) of the latest deliveries, newest last. */
  readonly latencies: number[] = [];

  recordDelivery(latencyMs: number): void {
    this.delivered++;
    this.latencies.push(latencyMs);
    if (this.latencies.length > 10_000) this.latencies.splice(0, this.latencies.length - 10_000);
  }

  percentile(p: number): number {
    if (this.latencies.length === 0) return 0;
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  }
}
