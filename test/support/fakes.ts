import { RecordingAnalytics, type OutgoingStat } from '../../lib/telemetry/analytics';
import { RecordingNotifier } from '../../lib/telemetry/notifier';

/**
 * The recording fakes of the narrow interfaces a Coordinator is given (WebhookNotifier,
 * AnalyticsSink), from one place. Each has a `clear()` that a `beforeEach` calls (as
 * useTelemetry and useApiNode do), so no test reads another's recordings and none resets
 * arrays by hand.
 */
export { RecordingAnalytics, RecordingNotifier };

/**
 * Analytics whose stats writes fail while `failing` is set (the analytics service down);
 * events and node room states go through. What it was given is recorded as by
 * RecordingAnalytics.
 */
export class FlakyAnalytics extends RecordingAnalytics {
  constructor(public failing = true) {
    super();
  }

  override async sendStats(stats: OutgoingStat[], batchId?: string): Promise<void> {
    if (this.failing) throw new Error('analytics down');
    await super.sendStats(stats, batchId);
  }
}
