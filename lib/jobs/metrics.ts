import client from 'prom-client';
import type { PeriodicWork } from './periodic';

/** 1 ms .. 30 s: a shard job on an idle shard is a few round trips, a backlog's flush takes seconds. */
const JOB_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The metrics of the periodic jobs (flush, reap, node expiry) this node runs, from PeriodicWork's reports. */
export function registerPeriodicMetrics(register: client.Registry, periodic: PeriodicWork): void {
  const flushSeconds = new client.Histogram({
    name: 'tc_flush_duration_seconds', help: 'Run time of flush-shard jobs completed by this node (one shard each)', buckets: JOB_SECONDS, registers: [register],
  });
  const reapSeconds = new client.Histogram({
    name: 'tc_reap_duration_seconds', help: 'Run time of reap-shard jobs completed by this node (one shard each)', buckets: JOB_SECONDS, registers: [register],
  });
  const reaped = new client.Counter({ name: 'tc_workers_reaped_total', help: 'Closed workers reaped by this node', registers: [register] });
  const expiries = new client.Counter({ name: 'tc_node_expiries_total', help: 'Lapsed SFU node leases expired by this node', registers: [register] });
  const rejected = new client.Counter({
    name: 'tc_stats_rejected_total', help: 'Stats the flushes of this node moved to the stats dead-letter stream (not coalescible, or their batch kept failing)', registers: [register],
  });
  periodic.onJobDone((done) => {
    // a failed job's run time is not one of a completed job, but what its steps did counts
    if (done.job === 'flush-shard') {
      if (!done.failed) flushSeconds.observe(done.seconds);
      rejected.inc(done.rejected);
    } else if (done.job === 'reap-shard') {
      if (!done.failed) reapSeconds.observe(done.seconds);
      reaped.inc(done.reaped);
      rejected.inc(done.rejected);
    } else {
      expiries.inc();
    }
  });
}
