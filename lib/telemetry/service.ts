import { Timestamp } from '@bufbuild/protobuf';
import {
  AnalyticsClientMeta, AnalyticsEvent, AnalyticsStat, AnalyticsEventType, ParticipantInfo, Room, TrackInfo,
  type AnalyticsNodeRooms, type APICallInfo, type EgressInfo, type IngressInfo, type ReportInfo,
  type RTPStats, type WebhookInfo,
} from '@livekit/protocol';
import type { Logger } from 'pino';
import type { WorkerRegistry } from '../registry/registry';
import type { LeaveRecord } from '../registry/types';
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
import type { Method } from './methods';
import { CALL_LIMITS, validateCall, type CallLimits } from './validate';

/**
 * What the fleet knows of the call being applied. `seed` (the SFU node and event id)
 * makes the ids of what it raises stable: applied twice, it queues the same webhook id.
 * `validated`: the call was checked already (a batch is checked whole before applying).
 */
export interface CallContext {
  seed?: string;
  validated?: boolean;
}

export interface TelemetryDeps {
  registry: WorkerRegistry;
  stats: StatsBuffer;
  flusher: StatsFlusher;
  notifier: WebhookNotifier;
  analytics: AnalyticsSink;
  log: Logger;
  limits?: CallLimits;
}

const E = AnalyticsEventType;


/**
 * LiveKit's telemetry service with its state in Redis: any node of the fleet can take any
 * call. Each method resolves once its effects are stored (worker changed, webhook queued,
 * analytics written). A leave is decided and recorded in one script, then relayed; if the
 * relay dies, the shard's sweep relays it later under the same webhook id.
 */
export class RedisTelemetryService implements T.TelemetryService {
  constructor(private readonly d: TelemetryDeps) {}

  private notify(event: ReturnType<typeof webhookEvent>, ctx: CallContext | undefined): Promise<void> {
    if (ctx?.seed && !event.id) event.id = stableId('EV_', `${ctx.seed}|${event.event}`);
    return this.d.notifier.queueNotify(event);
  }

  private send(event: AnalyticsEvent, ctx: CallContext | undefined): Promise<void> {
    if (ctx?.seed && !event.id) event.id = stableId('AE_', `${ctx.seed}|${event.type}`);
    return this.d.analytics.sendEvent(event);
  }

  /** An in-process call is checked here; a batch's calls were checked before the first was applied. */
  private check(method: Method, args: object, ctx: CallContext | undefined): void {
    if (!ctx?.validated) validateCall(method, args, this.d.limits ?? CALL_LIMITS);
  }

  async trackStats(a: T.TrackStatsArgs, ctx?: CallContext): Promise<void> {
    this.check('trackStats', a, ctx);
    const json = a.stat instanceof AnalyticsStat ? a.stat.toJsonString() : JSON.stringify(a.stat);
    await this.d.stats.add(a.roomId, a.key, (a.stat instanceof AnalyticsStat ? a.stat.toJson() : a.stat) as AnalyticsStatJson, json);
  }

  async roomStarted(a: { room: Room }, ctx?: CallContext): Promise<void> {
    this.check('roomStarted', a, ctx);
    const { room } = a;
    await this.notify(webhookEvent(WEBHOOK.roomStarted, { room }), ctx);
    await this.send(new AnalyticsEvent({ type: E.ROOM_CREATED, timestamp: new Timestamp({ seconds: room.creationTime }), room }), ctx);
  }

  async roomEnded(a: { room: Room }, ctx?: CallContext): Promise<void> {
    this.check('roomEnded', a, ctx);
    const { room } = a;
    await this.notify(webhookEvent(WEBHOOK.roomFinished, { room }), ctx);
    await this.send(new AnalyticsEvent({ type: E.ROOM_ENDED, timestamp: Timestamp.now(), roomId: room.sid, room }), ctx);
  }

  private who(room: Room, participant: ParticipantInfo) {
    return { roomId: room.sid, participantId: participant.sid, roomName: room.name, identity: participant.identity };
  }

  async participantJoined(a: T.ParticipantJoinedArgs, ctx?: CallContext): Promise<void> {
    this.check('participantJoined', a, ctx);
    await this.d.registry.open({ ...this.who(a.room, a.participant), info: a.participant.toJsonString(), guard: a.guard, nodeId: a.nodeId });
    if (a.shouldSendEvent) {
      const ev = newParticipantEvent(E.PARTICIPANT_JOINED, a.room, a.participant);
      ev.clientInfo = a.clientInfo;
      ev.clientMeta = a.clientMeta;
      await this.send(ev, ctx);
    }
  }

  async participantActive(a: T.ParticipantActiveArgs, ctx?: CallContext): Promise<void> {
    this.check('participantActive', a, ctx);
    // a participant is "joined", for webhooks, only once active; a migration is not a join
    if (!a.isMigration) await this.notify(webhookEvent(WEBHOOK.participantJoined, { room: a.room, participant: a.participant }), ctx);
    await this.d.registry.open({
      ...this.who(a.room, a.participant), info: a.participant.toJsonString(), guard: a.guard, nodeId: a.nodeId, connect: true,
    });
    const ev = newParticipantEvent(E.PARTICIPANT_ACTIVE, a.room, a.participant);
    ev.clientMeta = a.clientMeta;
    await this.send(ev, ctx);
  }

  async participantResumed(a: T.ParticipantResumedArgs, ctx?: CallContext): Promise<void> {
    this.check('participantResumed', a, ctx);
    // the old signal connection's leave may have closed the worker: re-open it, no guard
    await this.d.registry.open({ ...this.who(a.room, a.participant), info: a.participant.toJsonString() });
    const ev = newParticipantEvent(E.PARTICIPANT_RESUMED, a.room, a.participant);
    ev.clientMeta = new AnalyticsClientMeta({ node: a.nodeId ?? '', reconnectReason: a.reason });
    await this.send(ev, ctx);
  }

  async participantLeft(a: T.ParticipantLeftArgs, ctx?: CallContext): Promise<void> {
    this.check('participantLeft', a, ctx);
    const r = await this.d.registry.release({
      roomId: a.room.sid, participantId: a.participant.sid, guard: a.guard, raiseLeave: a.shouldSendEvent,
      info: a.participant.toJsonString(), room: a.room.toJsonString(),
    });
    if (!r.found) {
      // no worker anywhere: nothing to dedupe against, LiveKit reports an aborted connection
      if (a.shouldSendEvent) await this.emitLeave(a.room, a.participant, false, undefined, ctx);
      return;
    }
    if (r.leaveId) {
      await this.emitLeave(a.room, a.participant, r.wasConnected, r.leaveId, ctx);
      await this.d.registry.ackLeave({ roomId: a.room.sid, participantId: a.participant.sid, id: r.leaveId });
    }
  }

  /**
   * Queues a leave's webhook and analytics event. A leave the registry decided (`leaveId`)
   * is one per worker generation, and generations never repeat: its event ids come from its
   * id, so a relay that repeats itself queues the same webhook id.
   */
  private async emitLeave(room: Room, participant: ParticipantInfo, wasConnected: boolean, leaveId: string | undefined, ctx: CallContext | undefined): Promise<void> {
    const { webhook, analytics } = leaveEvents(room, participant, wasConnected);
    const leaveCtx = leaveId ? { seed: `leave|${leaveId}` } : ctx;
    await this.notify(webhook, leaveCtx);
    await this.send(analytics, leaveCtx);
  }

  /** Relays leaves whose first relay died, or that a node expiry raised (`raisedLeaves`). */
  async relayLeaves(leaves: LeaveRecord[]): Promise<number> {
    // leaves are independent: relayed together, so their round trips share pipelines
    await Promise.all(leaves.map(async (l) => {
      // a node's expiry records no Room: one is made from the ids
      const room = l.room ? Room.fromJsonString(l.room, { ignoreUnknownFields: true }) : new Room({ sid: l.roomId, name: l.roomName });
      const participant = l.info
        ? ParticipantInfo.fromJsonString(l.info, { ignoreUnknownFields: true })
        : new ParticipantInfo({ sid: l.participantId, identity: l.identity });
      await this.emitLeave(room, participant, l.wasConnected, l.id, undefined);
      await this.d.registry.ackLeave(l);
    }));
    if (leaves.length) this.d.log.info({ relayed: leaves.length }, 'relayed participant leaves');
    return leaves.length;
  }

  async trackPublishRequested(a: T.TrackPublishArgs, ctx?: CallContext): Promise<void> {
    this.check('trackPublishRequested', a, ctx);
    if (!a.shouldSendEvent) return;
    const ev = newTrackEvent(E.TRACK_PUBLISH_REQUESTED, a.room, a.participantId, a.track);
    if (ev.participant) ev.participant.identity = a.identity;
    await this.send(ev, ctx);
  }

  async trackPublished(a: T.TrackPublishArgs, ctx?: CallContext): Promise<void> {
    this.check('trackPublished', a, ctx);
    if (!a.shouldSendEvent) return;
    const participant = new ParticipantInfo({ sid: a.participantId, identity: a.identity });
    await this.notify(webhookEvent(WEBHOOK.trackPublished, { room: a.room, participant, track: a.track }), ctx);
    const ev = newTrackEvent(E.TRACK_PUBLISHED, a.room, a.participantId, a.track);
    ev.participant = participant;
    await this.send(ev, ctx);
  }

  async trackUnpublished(a: T.TrackPublishArgs & { wasPublishedLocally?: boolean }, ctx?: CallContext): Promise<void> {
    this.check('trackUnpublished', a, ctx);
    if (!a.shouldSendEvent) return;
    const participant = new ParticipantInfo({ sid: a.participantId, identity: a.identity });
    await this.notify(webhookEvent(WEBHOOK.trackUnpublished, { room: a.room, participant, track: a.track }), ctx);
    await this.send(newTrackEvent(E.TRACK_UNPUBLISHED, a.room, a.participantId, a.track), ctx);
  }

  async trackSubscribeRequested(a: T.TrackArgs, ctx?: CallContext): Promise<void> {
    this.check('trackSubscribeRequested', a, ctx);
    await this.send(newTrackEvent(E.TRACK_SUBSCRIBE_REQUESTED, a.room, a.participantId, a.track), ctx);
  }

  async trackSubscribed(a: T.TrackArgs & { publisher?: ParticipantInfo; shouldSendEvent: boolean }, ctx?: CallContext): Promise<void> {
    this.check('trackSubscribed', a, ctx);
    if (!a.shouldSendEvent) return;
    const ev = newTrackEvent(E.TRACK_SUBSCRIBED, a.room, a.participantId, a.track);
    ev.publisher = a.publisher;
    await this.send(ev, ctx);
  }

  async trackUnsubscribed(a: T.TrackArgs & { shouldSendEvent: boolean }, ctx?: CallContext): Promise<void> {
    this.check('trackUnsubscribed', a, ctx);
    if (a.shouldSendEvent) await this.send(newTrackEvent(E.TRACK_UNSUBSCRIBED, a.room, a.participantId, a.track), ctx);
  }

  async trackSubscribeFailed(a: { room: Room; participantId: string; trackId: string; error: string; isUserError: boolean }, ctx?: CallContext): Promise<void> {
    this.check('trackSubscribeFailed', a, ctx);
    const ev = newTrackEvent(E.TRACK_SUBSCRIBE_FAILED, a.room, a.participantId, new TrackInfo({ sid: a.trackId }));
    ev.error = a.error;
    await this.send(ev, ctx);
  }

  async trackMuted(a: T.TrackArgs, ctx?: CallContext): Promise<void> {
    this.check('trackMuted', a, ctx);
    await this.send(newTrackEvent(E.TRACK_MUTED, a.room, a.participantId, a.track), ctx);
  }

  async trackUnmuted(a: T.TrackArgs, ctx?: CallContext): Promise<void> {
    this.check('trackUnmuted', a, ctx);
    await this.send(newTrackEvent(E.TRACK_UNMUTED, a.room, a.participantId, a.track), ctx);
  }

  async trackPublishedUpdate(a: T.TrackArgs, ctx?: CallContext): Promise<void> {
    this.check('trackPublishedUpdate', a, ctx);
    await this.send(newTrackEvent(E.TRACK_PUBLISHED_UPDATE, a.room, a.participantId, a.track), ctx);
  }

  async trackMaxSubscribedVideoQuality(a: T.TrackArgs & { mime: string; maxQuality: number }, ctx?: CallContext): Promise<void> {
    this.check('trackMaxSubscribedVideoQuality', a, ctx);
    const ev = newTrackEvent(E.TRACK_MAX_SUBSCRIBED_VIDEO_QUALITY, a.room, a.participantId, a.track);
    ev.maxSubscribedVideoQuality = a.maxQuality;
    ev.mime = a.mime;
    await this.send(ev, ctx);
  }

  async trackPublishRTPStats(a: { room: Room; participantId: string; trackId: string; mimeType: string; layer: number; stats: RTPStats }, ctx?: CallContext): Promise<void> {
    this.check('trackPublishRTPStats', a, ctx);
    const ev = newRoomEvent(E.TRACK_PUBLISH_STATS, minimalRoom(a.room));
    Object.assign(ev, { participantId: a.participantId, trackId: a.trackId, mime: a.mimeType, videoLayer: a.layer, rtpStats: a.stats });
    await this.send(ev, ctx);
  }

  async trackSubscribeRTPStats(a: { room: Room; participantId: string; trackId: string; mimeType: string; stats: RTPStats }, ctx?: CallContext): Promise<void> {
    this.check('trackSubscribeRTPStats', a, ctx);
    const ev = newRoomEvent(E.TRACK_SUBSCRIBE_STATS, minimalRoom(a.room));
    Object.assign(ev, { participantId: a.participantId, trackId: a.trackId, mime: a.mimeType, rtpStats: a.stats });
    await this.send(ev, ctx);
  }

  private async egress(name: string, type: AnalyticsEventType, info: EgressInfo, ctx: CallContext | undefined): Promise<void> {
    await this.notify(webhookEvent(name, { room: new Room({ sid: info.roomId, name: info.roomName }), egressInfo: info }), ctx);
    await this.send(newEgressEvent(type, info), ctx);
  }

  async egressStarted(a: { info: EgressInfo }, ctx?: CallContext): Promise<void> { this.check('egressStarted', a, ctx); await this.egress(WEBHOOK.egressStarted, E.EGRESS_STARTED, a.info, ctx); }
  async egressUpdated(a: { info: EgressInfo }, ctx?: CallContext): Promise<void> { this.check('egressUpdated', a, ctx); await this.egress(WEBHOOK.egressUpdated, E.EGRESS_UPDATED, a.info, ctx); }
  async egressEnded(a: { info: EgressInfo }, ctx?: CallContext): Promise<void> { this.check('egressEnded', a, ctx); await this.egress(WEBHOOK.egressEnded, E.EGRESS_ENDED, a.info, ctx); }

  private async ingress(type: AnalyticsEventType, info: IngressInfo, ctx: CallContext | undefined, webhook?: string): Promise<void> {
    if (webhook) await this.notify(webhookEvent(webhook, { room: new Room({ name: info.roomName }), ingressInfo: info }), ctx);
    await this.send(newIngressEvent(type, info), ctx);
  }

  async ingressCreated(a: { info: IngressInfo }, ctx?: CallContext): Promise<void> { this.check('ingressCreated', a, ctx); await this.ingress(E.INGRESS_CREATED, a.info, ctx); }
  async ingressDeleted(a: { info: IngressInfo }, ctx?: CallContext): Promise<void> { this.check('ingressDeleted', a, ctx); await this.ingress(E.INGRESS_DELETED, a.info, ctx); }
  async ingressStarted(a: { info: IngressInfo }, ctx?: CallContext): Promise<void> { this.check('ingressStarted', a, ctx); await this.ingress(E.INGRESS_STARTED, a.info, ctx, WEBHOOK.ingressStarted); }
  async ingressUpdated(a: { info: IngressInfo }, ctx?: CallContext): Promise<void> { this.check('ingressUpdated', a, ctx); await this.ingress(E.INGRESS_UPDATED, a.info, ctx); }
  async ingressEnded(a: { info: IngressInfo }, ctx?: CallContext): Promise<void> { this.check('ingressEnded', a, ctx); await this.ingress(E.INGRESS_ENDED, a.info, ctx, WEBHOOK.ingressEnded); }

  async localRoomState(a: { info: AnalyticsNodeRooms }, ctx?: CallContext): Promise<void> {
    this.check('localRoomState', a, ctx);
    const { info } = a;
    await this.d.analytics.sendNodeRoomStates(info);
  }

  async report(a: { reportInfo: ReportInfo }, ctx?: CallContext): Promise<void> {
    this.check('report', a, ctx);
    const { reportInfo } = a;
    await this.send(new AnalyticsEvent({ type: E.REPORT, timestamp: Timestamp.now(), report: reportInfo }), ctx);
  }

  async apiCall(a: { apiCallInfo: APICallInfo }, ctx?: CallContext): Promise<void> {
    this.check('apiCall', a, ctx);
    const { apiCallInfo } = a;
    await this.send(new AnalyticsEvent({ type: E.API_CALL, timestamp: Timestamp.now(), apiCall: apiCallInfo }), ctx);
  }

  async webhook(a: { webhookInfo: WebhookInfo }, ctx?: CallContext): Promise<void> {
    this.check('webhook', a, ctx);
    const { webhookInfo } = a;
    await this.send(new AnalyticsEvent({ type: E.WEBHOOK, timestamp: Timestamp.now(), webhook: webhookInfo }), ctx);
  }

  async flushStats(): Promise<void> {
    const shards = Array.from({ length: this.d.registry.keys.shards }, (_, s) => s);
    await Promise.all(shards.map((s) => this.d.flusher.flushShard(s)));
  }
}
