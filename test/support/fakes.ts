import { RecordingAnalytics } from '../../lib/telemetry/analytics';
import type { OutgoingStat } from '../../lib/telemetry/analytics';
import { RecordingNotifier as LibRecordingNotifier } from '../../lib/telemetry/notifier';

/**
 * The recording fakes of the narrow interfaces a Coordinator is given (WebhookNotifier,
 * AnalyticsSink), each with a `clear()` that a `beforeEach` calls, so no test reads
 * another's recordings and none resets arrays by hand.
 */

export { RecordingAnalytics };

/** The library's RecordingNotifier, with `clear()`. */
export class RecordingNotifier extends LibRecordingNotifier {
  /**
   * Forgets the events recorded (between tests), not the ids already queued: an id queued
   * again after a clear is still not recorded twice, as the notifier's contract says.
   */
  clear(): void {
    this.events.length = 0;
  }
}

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
