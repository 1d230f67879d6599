import { Timestamp } from '@bufbuild/protobuf';
import { AnalyticsStat, type AnalyticsEvent, type AnalyticsNodeRooms } from '@livekit/protocol';
import type { RedisClient } from '../redis/connection';
import type { KeySpace } from '../redis/keys';
import type { AnalyticsSink, OutgoingStat } from './analytics';
import { newId } from '../ids';

/**
 * The default AnalyticsSink: Redis Streams that consumers in any language read with
 * consumer groups. One entry per message, field `data` = its protobuf JSON, each stream
 * trimmed to about `maxLen` entries.
 */
export class RedisStreamsAnalytics implements AnalyticsSink {
  private sequence = 0n;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeySpace,
    /** This coordinator node's id: the stored event's `nodeId`, the stat's `node`. */
    private readonly coordinatorId: string,
    private readonly maxLen: number,
  ) {}

  async sendEvent(event: AnalyticsEvent): Promise<void> {
    event.id = newId('AE_');
    event.nodeId = this.coordinatorId;
    await this.redis.xadd(this.keys.analyticsStream('events'), 'MAXLEN', '~', this.maxLen, '*', 'data', event.toJsonString());
  }

  async sendStats(stats: OutgoingStat[], batchId?: string): Promise<void> {
    if (stats.length === 0) return;
    const data = stats.map((s) => {
      if (s instanceof AnalyticsStat) {
        s.id = newId('AS_');
        s.node = this.coordinatorId;
        return s.toJsonString();
      }
      return JSON.stringify({ ...s, id: newId('AS_'), node: this.coordinatorId });
    });
    await this.redis.commitStats(
      this.keys.analyticsStream('stats'), this.keys.committedStatBatches(), batchId ?? newId('SB_'), this.maxLen, ...data);
  }

  /** The batch's marker goes (kept only while a flush could be handed the batch again). */
  async forgetStatsBatch(batchId: string): Promise<void> {
    await this.redis.zrem(this.keys.committedStatBatches(), batchId);
  }

  async sendNodeRoomStates(info: AnalyticsNodeRooms): Promise<void> {
    info.nodeId = this.coordinatorId;
    info.sequenceNumber = ++this.sequence;
    info.timestamp = Timestamp.now();
    await this.redis.xadd(this.keys.analyticsStream('node_rooms'), 'MAXLEN', '~', this.maxLen, '*', 'data', info.toJsonString());
  }
}
