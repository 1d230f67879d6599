import { Timestamp } from '@bufbuild/protobuf';
import {
  AnalyticsClientMeta, AnalyticsEvent, AnalyticsStat, AnalyticsEventType, ParticipantInfo, Room, TrackInfo,
  type AnalyticsNodeRooms, type APICallInfo, type EgressInfo, type IngressInfo, type ReportInfo,
  type RTPStats, type WebhookInfo,
} from '@livekit/protocol';
import type { Logger } from 'pino';
import type { WorkerRegistry } from '../registry/registry';
import type { LeaveRecord, OrphanedWorker } from '../registry/types';
import type { WebhookNotifier } from '../webhooks/notifier';
import type { AnalyticsSink } from './analytics';
import {
  WEBHOOK, leaveEvents, minimalRoom, newEgressEvent, newIngressEvent, newParticipantEvent,
  newRoomEvent, newTrackEvent, webhookEvent,
} from './events';
import { stableId } from '../ids';
import type { StatsBuffer } from './stats-buffer';
import type { StatsFlusher } from './stats-flush';
import type * as T from './types';
import type { AnalyticsStatJson } from './types';
import { validateCall } from './validate';

export interface TelemetryDeps {
  registry: WorkerRegistry;
  stats: StatsBuffer;
  flusher: StatsFlusher;
  notifier: WebhookNotifier;
  analytics: AnalyticsSink;
  log: Logger;
}

const E = AnalyticsEventType;

/**
 * Methods whose only effect is one write issued the moment they are called (a stat
 * buffered, or one analytics event appended). Calls of these made back to back, without
 * awaiting each, still reach Redis in call order, so a caller may send a run of them
 * together and await the run. Every other method takes several steps and must be awaited
 * before the next call.
 */
export const SINGLE_WRITE_METHODS: ReadonlySet<keyof T.TelemetryService> = new Set<keyof T.TelemetryService>([
  'trackStats', 'trackPublishRequested', 'trackSubscribeRequested', 'trackSubscribed', 'trackUnsubscribed',
  'trackSubscribeFailed', 'trackMuted', 'trackUnmuted', 'trackPublishedUpdate', 'trackMaxSubscribedVideoQuality',
  'trackPublishRTPStats', 'trackSubscribeRTPStats', 'ingressCreated', 'ingressDeleted', 'ingressUpdated',
  'localRoomState', 'report', 'apiCall', 'webhook',
]);

/**
 * LiveKit's telemetry service with its state in Redis: any node of the fleet can take any
 * call. Each method resolves once its effects are stored (worker changed, webhook queued,
 * analytics written). A leave is decided and recorded in one script, then relayed; if the
 * relay dies, the shard's sweep relays it later under the same webhook id.
 */
export class RedisTelemetryService implements T.TelemetryService {
  constructor(private readonly d: TelemetryDeps) {}

  private notify(event: ReturnType<typeof webhookEvent>): Promise<void> {
    return this.d.notifier.queueNotify(event);
  }

  private send(event: AnalyticsEvent): Promise<void> {
    return this.d.analytics.sendEvent(event);
  }

  async trackStats(a: T.TrackStatsArgs): Promise<void> {
    validateCall('trackStats', a);
    const json = a.stat instanceof AnalyticsStat ? a.stat.toJsonString() : JSON.stringify(a.stat);
    await this.d.stats.add(a.roomId, a.key, (a.stat instanceof AnalyticsStat ? a.stat.toJson() : a.stat) as AnalyticsStatJson, json);
  }

  async roomStarted({ room }: { room: Room }): Promise<void> {
    await this.notify(webhookEvent(WEBHOOK.roomStarted, { room }));
    await this.send(new AnalyticsEvent({ type: E.ROOM_CREATED, timestamp: new Timestamp({ seconds: room.creationTime }), room }));
  }

  async roomEnded({ room }: { room: Room }): Promise<void> {
    await this.notify(webhookEvent(WEBHOOK.roomFinished, { room }));
    await this.send(new AnalyticsEvent({ type: E.ROOM_ENDED, timestamp: Timestamp.now(), roomId: room.sid, room }));
  }

  private who(room: Room, participant: ParticipantInfo) {
    return { roomId: room.sid, participantId: participant.sid, roomName: room.name, identity: participant.identity };
  }

  async participantJoined(a: T.ParticipantJoinedArgs): Promise<void> {
    validateCall('participantJoined', a);
    await this.d.registry.open({ ...this.who(a.room, a.participant), info: a.participant.toJsonString(), guard: a.guard, nodeId: a.nodeId });
    if (a.shouldSendEvent) {
      const ev = newParticipantEvent(E.PARTICIPANT_JOINED, a.room, a.participant);
      ev.clientInfo = a.clientInfo;
      ev.clientMeta = a.clientMeta;
      await this.send(ev);
    }
  }

  async participantActive(a: T.ParticipantActiveArgs): Promise<void> {
    validateCall('participantActive', a);
    // a participant is "joined", for webhooks, only once active; a migration is not a join
    if (!a.isMigration) await this.notify(webhookEvent(WEBHOOK.participantJoined, { room: a.room, participant: a.participant }));
    await this.d.registry.open({
      ...this.who(a.room, a.participant), info: a.participant.toJsonString(), guard: a.guard, nodeId: a.nodeId, connect: true,
    });
    const ev = newParticipantEvent(E.PARTICIPANT_ACTIVE, a.room, a.participant);
    ev.clientMeta = a.clientMeta;
    await this.send(ev);
  }

  async participantResumed(a: T.ParticipantResumedArgs): Promise<void> {
    validateCall('participantResumed', a);
    // the old signal connection's leave may have closed the worker: re-open it, no guard
    await this.d.registry.open({ ...this.who(a.room, a.participant), info: a.participant.toJsonString() });
    const ev = newParticipantEvent(E.PARTICIPANT_RESUMED, a.room, a.participant);
    ev.clientMeta = new AnalyticsClientMeta({ node: a.nodeId ?? '', reconnectReason: a.reason });
    await this.send(ev);
  }

  async participantLeft(a: T.ParticipantLeftArgs): Promise<void> {
    validateCall('participantLeft', a);
    const r = await this.d.registry.release({
      roomId: a.room.sid, participantId: a.participant.sid, guard: a.guard, raiseLeave: a.shouldSendEvent,
      info: a.participant.toJsonString(), room: a.room.toJsonString(),
    });
    if (!r.found) {
      // no worker anywhere: nothing to dedupe against, LiveKit reports an aborted connection
      if (a.shouldSendEvent) await this.emitLeave(a.room, a.participant, false, undefined);
      return;
    }
    if (r.raiseLeave) {
      await this.emitLeave(a.room, a.participant, r.wasConnected, `${a.room.sid}|${a.participant.sid}|${r.generation}`);
      await this.d.registry.ackLeave({ roomId: a.room.sid, participantId: a.participant.sid }, r.generation);
    }
  }

  /** Queues a leave's webhook and analytics event; `seed` makes the webhook id stable across relays. */
  private async emitLeave(room: Room, participant: ParticipantInfo, wasConnected: boolean, seed: string | undefined): Promise<void> {
    const { webhook, analytics } = leaveEvents(room, participant, wasConnected);
    if (seed) webhook.id = stableId('EV_', `leave|${seed}`);
    await this.notify(webhook);
    await this.send(analytics);
  }

  /** Relays leaves whose first relay died (or that a node expiry raised). */
  async relayLeaves(leaves: (LeaveRecord | OrphanedWorker)[]): Promise<number> {
    // leaves are independent: relayed together, so their round trips share pipelines
    const done = await Promise.all(leaves.map(async (l) => {
      if ('raiseLeave' in l && !l.raiseLeave) return false;
      const room = 'room' in l && l.room ? Room.fromJsonString(l.room, { ignoreUnknownFields: true }) : new Room({ sid: l.roomId, name: l.roomName });
      const participant = l.info
        ? ParticipantInfo.fromJsonString(l.info, { ignoreUnknownFields: true })
        : new ParticipantInfo({ sid: l.participantId, identity: l.identity });
      await this.emitLeave(room, participant, l.wasConnected, `${l.roomId}|${l.participantId}|${l.generation}`);
      await this.d.registry.ackLeave(l, l.generation);
      return true;
    }));
    const relayed = done.filter(Boolean).length;
    if (relayed) this.d.log.info({ relayed }, 'relayed participant leaves');
    return relayed;
  }

  async trackPublishRequested(a: T.TrackPublishArgs): Promise<void> {
    if (!a.shouldSendEvent) return;
    const ev = newTrackEvent(E.TRACK_PUBLISH_REQUESTED, a.room, a.participantId, a.track);
    if (ev.participant) ev.participant.identity = a.identity;
    await this.send(ev);
  }

  async trackPublished(a: T.TrackPublishArgs): Promise<void> {
    if (!a.shouldSendEvent) return;
    const participant = new ParticipantInfo({ sid: a.participantId, identity: a.identity });
    await this.notify(webhookEvent(WEBHOOK.trackPublished, { room: a.room, participant, track: a.track }));
    const ev = newTrackEvent(E.TRACK_PUBLISHED, a.room, a.participantId, a.track);
    ev.participant = participant;
    await this.send(ev);
  }

  async trackUnpublished(a: T.TrackPublishArgs & { wasPublishedLocally?: boolean }): Promise<void> {
    if (!a.shouldSendEvent) return;
    const participant = new ParticipantInfo({ sid: a.participantId, identity: a.identity });
    await this.notify(webhookEvent(WEBHOOK.trackUnpublished, { room: a.room, participant, track: a.track }));
    await this.send(newTrackEvent(E.TRACK_UNPUBLISHED, a.room, a.participantId, a.track));
  }

  async trackSubscribeRequested(a: T.TrackArgs): Promise<void> {
    await this.send(newTrackEvent(E.TRACK_SUBSCRIBE_REQUESTED, a.room, a.participantId, a.track));
  }

  async trackSubscribed(a: T.TrackArgs & { publisher?: ParticipantInfo; shouldSendEvent: boolean }): Promise<void> {
    if (!a.shouldSendEvent) return;
    const ev = newTrackEvent(E.TRACK_SUBSCRIBED, a.room, a.participantId, a.track);
    ev.publisher = a.publisher;
    await this.send(ev);
  }

  async trackUnsubscribed(a: T.TrackArgs & { shouldSendEvent: boolean }): Promise<void> {
    if (a.shouldSendEvent) await this.send(newTrackEvent(E.TRACK_UNSUBSCRIBED, a.room, a.participantId, a.track));
  }

  async trackSubscribeFailed(a: { room: Room; participantId: string; trackId: string; error: string; isUserError: boolean }): Promise<void> {
    const ev = newTrackEvent(E.TRACK_SUBSCRIBE_FAILED, a.room, a.participantId, new TrackInfo({ sid: a.trackId }));
    ev.error = a.error;
    await this.send(ev);
  }

  async trackMuted(a: T.TrackArgs): Promise<void> {
    await this.send(newTrackEvent(E.TRACK_MUTED, a.room, a.participantId, a.track));
  }

  async trackUnmuted(a: T.TrackArgs): Promise<void> {
    await this.send(newTrackEvent(E.TRACK_UNMUTED, a.room, a.participantId, a.track));
  }

  async trackPublishedUpdate(a: T.TrackArgs): Promise<void> {
    await this.send(newTrackEvent(E.TRACK_PUBLISHED_UPDATE, a.room, a.participantId, a.track));
  }

  async trackMaxSubscribedVideoQuality(a: T.TrackArgs & { mime: string; maxQuality: number }): Promise<void> {
    const ev = newTrackEvent(E.TRACK_MAX_SUBSCRIBED_VIDEO_QUALITY, a.room, a.participantId, a.track);
    ev.maxSubscribedVideoQuality = a.maxQuality;
    ev.mime = a.mime;
    await this.send(ev);
  }

  async trackPublishRTPStats(a: { room: Room; participantId: string; trackId: string; mimeType: string; layer: number; stats: RTPStats }): Promise<void> {
    const ev = newRoomEvent(E.TRACK_PUBLISH_STATS, minimalRoom(a.room));
    Object.assign(ev, { participantId: a.participantId, trackId: a.trackId, mime: a.mimeType, videoLayer: a.layer, rtpStats: a.stats });
    await this.send(ev);
  }

  async trackSubscribeRTPStats(a: { room: Room; participantId: string; trackId: string; mimeType: string; stats: RTPStats }): Promise<void> {
    const ev = newRoomEvent(E.TRACK_SUBSCRIBE_STATS, minimalRoom(a.room));
    Object.assign(ev, { participantId: a.participantId, trackId: a.trackId, mime: a.mimeType, rtpStats: a.stats });
    await this.send(ev);
  }

  private async egress(name: string, type: AnalyticsEventType, info: EgressInfo): Promise<void> {
    await this.notify(webhookEvent(name, { room: new Room({ sid: info.roomId, name: info.roomName }), egressInfo: info }));
    await this.send(newEgressEvent(type, info));
  }

  egressStarted({ info }: { info: EgressInfo }) { return this.egress(WEBHOOK.egressStarted, E.EGRESS_STARTED, info); }
  egressUpdated({ info }: { info: EgressInfo }) { return this.egress(WEBHOOK.egressUpdated, E.EGRESS_UPDATED, info); }
  egressEnded({ info }: { info: EgressInfo }) { return this.egress(WEBHOOK.egressEnded, E.EGRESS_ENDED, info); }

  private async ingress(type: AnalyticsEventType, info: IngressInfo, webhook?: string): Promise<void> {
    if (webhook) await this.notify(webhookEvent(webhook, { room: new Room({ name: info.roomName }), ingressInfo: info }));
    await this.send(newIngressEvent(type, info));
  }

  ingressCreated({ info }: { info: IngressInfo }) { return this.ingress(E.INGRESS_CREATED, info); }
  ingressDeleted({ info }: { info: IngressInfo }) { return this.ingress(E.INGRESS_DELETED, info); }
  ingressStarted({ info }: { info: IngressInfo }) { return this.ingress(E.INGRESS_STARTED, info, WEBHOOK.ingressStarted); }
  ingressUpdated({ info }: { info: IngressInfo }) { return this.ingress(E.INGRESS_UPDATED, info); }
  ingressEnded({ info }: { info: IngressInfo }) { return this.ingress(E.INGRESS_ENDED, info, WEBHOOK.ingressEnded); }

  async localRoomState({ info }: { info: AnalyticsNodeRooms }): Promise<void> {
    await this.d.analytics.sendNodeRoomStates(info);
  }

  async report({ reportInfo }: { reportInfo: ReportInfo }): Promise<void> {
    await this.send(new AnalyticsEvent({ type: E.REPORT, timestamp: Timestamp.now(), report: reportInfo }));
  }

  async apiCall({ apiCallInfo }: { apiCallInfo: APICallInfo }): Promise<void> {
    await this.send(new AnalyticsEvent({ type: E.API_CALL, timestamp: Timestamp.now(), apiCall: apiCallInfo }));
  }

  async webhook({ webhookInfo }: { webhookInfo: WebhookInfo }): Promise<void> {
    await this.send(new AnalyticsEvent({ type: E.WEBHOOK, timestamp: Timestamp.now(), webhook: webhookInfo }));
  }

  async flushStats(): Promise<void> {
    const shards = Array.from({ length: this.d.registry.keys.shards }, (_, s) => s);
    await Promise.all(shards.map((s) => this.d.flusher.flushShard(s)));
  }
}
