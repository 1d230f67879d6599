import { AnalyticsStat, type AnalyticsEvent, type AnalyticsNodeRooms } from '@livekit/protocol';

/** A stat to send: the class, or its protobuf JSON form (what the flush's fast path makes). */
export type OutgoingStat = AnalyticsStat | Record<string, unknown>;

/**
 * Where analytics go (LiveKit's AnalyticsService). `batchId` makes a send idempotent: a
 * batch already written is not written again, which is what lets a flush killed halfway
 * be retried by another node without repeating what it sent.
 */
export interface AnalyticsSink {
  sendEvent(event: AnalyticsEvent): Promise<void>;
  sendStats(stats: OutgoingStat[], batchId?: string): Promise<void>;
  sendNodeRoomStates(info: AnalyticsNodeRooms): Promise<void>;
  /**
   * The flush finished batch `batchId`: it is never sent again, so what the sink keeps to
   * make its send idempotent may go. Optional: a sink that keeps nothing need not have it.
   */
  forgetStatsBatch?(batchId: string): Promise<void>;
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

  async sendStats(stats: OutgoingStat[], batchId?: string): Promise<void> {
    if (batchId !== undefined) {
      if (this.batches.has(batchId)) return;
      this.batches.add(batchId);
    }
    this.stats.push(stats.map((s) => (s instanceof AnalyticsStat ? s : AnalyticsStat.fromJson(s as never))));
  }

  async sendNodeRoomStates(info: AnalyticsNodeRooms): Promise<void> {
    this.nodeRooms.push(info);
  }

  /** Every stat sent, in order, flattened. */
  allStats(): AnalyticsStat[] {
    return this.stats.flat();
  }

  /**
   * Forgets what was recorded (between tests), not the batch ids already written: a batch
   * sent again after a clear is still not written twice, as the sink's contract says.
   */
  clear(): void {
    this.events.length = 0;
    this.stats.length = 0;
    this.nodeRooms.length = 0;
  }
}
