import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/**
 * A node's background work (the periodic flush, reap and node expiry, and webhook
 * delivery) when it runs off the API's event loop: the API asks it whether it runs and
 * what it measured, and stops it on the way out.
 */
export interface BackgroundJobs {
  /** Its BullMQ workers are running. */
  running(): Promise<boolean>;
  /** Its metrics, for the node's /metrics (prom-client's JSON form). */
  metricsJson(): Promise<MetricObjectWithValues<MetricValue<string>>[]>;
  /** Closes its BullMQ workers (their jobs go to other nodes) and ends it. */
  close(): Promise<void>;
}
