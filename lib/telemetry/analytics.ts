import type { AnalyticsEvent, AnalyticsNodeRooms, AnalyticsStat } from '@livekit/protocol';

/**
 * Where analytics go (LiveKit's AnalyticsService). `batchId` makes a send idempotent: a
 * batch already written is not written again, which is what lets a flush killed halfway
 * be retried by another node without repeating what it sent.
 */
export interface AnalyticsSink {
  sendEvent(event: AnalyticsEvent): Promise<void>;
  sendStats(stats: AnalyticsStat[], batchId?: string): Promise<void>;
  sendNodeRoomStates(info: AnalyticsNodeRooms): Promise<void>;
}

/** Records what it was given: for tests of callers, no Redis. */
export class RecordingAnalytics implements AnalyticsSink {
  readonly events: AnalyticsEvent[] = [];
  readonly stats: AnalyticsStat[][] = [];
  readonly nodeRooms: AnalyticsNodeRooms[] = [];
  private readonly batches = new Set<string>();

  async sendEvent(event: AnalyticsEvent): Promise<void> {
    this.events.push(event);
  }

  async sendStats(stats: AnalyticsStat[], batchId?: string): Promise<void> {
    if (batchId !== undefined) {
      if (this.batches.has(batchId)) return;
      this.batches.add(batchId);
    }
    this.stats.push(stats);
  }

  async sendNodeRoomStates(info: AnalyticsNodeRooms): Promise<void> {
    this.nodeRooms.push(info);
  }

  /** Every stat sent, in order, flattened. */
  allStats(): AnalyticsStat[] {
    return this.stats.flat();
  }
}
