import { Timestamp } from '@bufbuild/protobuf';
import {
  AnalyticsClientMeta, AnalyticsEvent, AnalyticsStat, AnalyticsEventType, ParticipantInfo, Room, TrackInfo,
  type AnalyticsNodeRooms, type APICallInfo, type EgressInfo, type IngressInfo, type ReportInfo,
  type RTPStats, type WebhookInfo,
} from '@livekit/protocol';
import type { Logger } from 'pino';
import type { WorkerRegistry } from '../registry/registry';
import type { LeaveRecord } from '../registry/types';
import type { WebhookNotifier } from './notifier';
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
  constructor(private readonly deps: TelemetryDeps) {}

  private notify(event: ReturnType<typeof webhookEvent>, ctx: CallContext | undefined): Promise<void> {
    if (ctx?.seed && !event.id) event.id = stableId('EV_', `${ctx.seed}|${event.event}`);
    return this.deps.notifier.queueNotify(event);
  }

  private send(event: AnalyticsEvent, ctx: CallContext | undefined): Promise<void> {
    if (ctx?.seed && !event.id) event.id = stableId('AE_', `${ctx.seed}|${event.type}`);
    return this.deps.analytics.sendEvent(event);
  }

  /** An in-process call is checked here; a batch's calls were checked before the first was applied. */
  private check(method: Method, args: object, ctx: CallContext | undefined): void {
    if (!ctx?.validated) validateCall(method, args, this.deps.limits ?? CALL_LIMITS);
  }

  async trackStats(args: T.TrackStatsArgs, ctx?: CallContext): Promise<void> {
    this.check('trackStats', args, ctx);
    const json = args.stat instanceof AnalyticsStat ? args.stat.toJsonString() : JSON.stringify(args.stat);
    await this.deps.stats.add(args.roomId, args.key, (args.stat instanceof AnalyticsStat ? args.stat.toJson() : args.stat) as AnalyticsStatJson, json);
  }

  async roomStarted(args: { room: Room }, ctx?: CallContext): Promise<void> {
    this.check('roomStarted', args, ctx);
    const { room } = args;
    await this.notify(webhookEvent(WEBHOOK.roomStarted, { room }), ctx);
    await this.send(new AnalyticsEvent({ type: E.ROOM_CREATED, timestamp: new Timestamp({ seconds: room.creationTime }), room }), ctx);
  }

  async roomEnded(args: { room: Room }, ctx?: CallContext): Promise<void> {
    this.check('roomEnded', args, ctx);
    const { room } = args;
    await this.notify(webhookEvent(WEBHOOK.roomFinished, { room }), ctx);
    await this.send(new AnalyticsEvent({ type: E.ROOM_ENDED, timestamp: Timestamp.now(), roomId: room.sid, room }), ctx);
  }

  private who(room: Room, participant: ParticipantInfo) {
    return { roomId: room.sid, participantId: participant.sid, roomName: room.name, identity: participant.identity };
  }

  async participantJoined(args: T.ParticipantJoinedArgs, ctx?: CallContext): Promise<void> {
    this.check('participantJoined', args, ctx);
    await this.deps.registry.open({ ...this.who(args.room, args.participant), info: args.participant.toJsonString(), guard: args.guard, nodeId: args.nodeId });
    if (args.shouldSendEvent) {
      const ev = newParticipantEvent(E.PARTICIPANT_JOINED, args.room, args.participant);
      ev.clientInfo = args.clientInfo;
      ev.clientMeta = args.clientMeta;
      await this.send(ev, ctx);
    }
  }

  async participantActive(args: T.ParticipantActiveArgs, ctx?: CallContext): Promise<void> {
    this.check('participantActive', args, ctx);
    // a participant is "joined", for webhooks, only once active; a migration is not a join
    if (!args.isMigration) await this.notify(webhookEvent(WEBHOOK.participantJoined, { room: args.room, participant: args.participant }), ctx);
    await this.deps.registry.open({
      ...this.who(args.room, args.participant), info: args.participant.toJsonString(), guard: args.guard, nodeId: args.nodeId, connect: true,
    });
    const ev = newParticipantEvent(E.PARTICIPANT_ACTIVE, args.room, args.participant);
    ev.clientMeta = args.clientMeta;
    await this.send(ev, ctx);
  }

  async participantResumed(args: T.ParticipantResumedArgs, ctx?: CallContext): Promise<void> {
    this.check('participantResumed', args, ctx);
    // the old signal connection's leave may have closed the worker: re-open it, no guard
    await this.deps.registry.open({ ...this.who(args.room, args.participant), info: args.participant.toJsonString() });
    const ev = newParticipantEvent(E.PARTICIPANT_RESUMED, args.room, args.participant);
    ev.clientMeta = new AnalyticsClientMeta({ node: args.nodeId ?? '', reconnectReason: args.reason });
    await this.send(ev, ctx);
  }

  async participantLeft(args: T.ParticipantLeftArgs, ctx?: CallContext): Promise<void> {
    this.check('participantLeft', args, ctx);
    const r = await this.deps.registry.release({
      roomId: args.room.sid, participantId: args.participant.sid, guard: args.guard, raiseLeave: args.shouldSendEvent,
      info: args.participant.toJsonString(), room: args.room.toJsonString(),
    });
    if (!r.found) {
      // no worker anywhere: nothing to dedupe against, LiveKit reports an aborted connection
      if (args.shouldSendEvent) await this.emitLeave(args.room, args.participant, false, undefined, ctx);
      return;
    }
    if (r.leaveId) {
      await this.emitLeave(args.room, args.participant, r.wasConnected, r.leaveId, ctx);
      await this.deps.registry.ackLeave({ roomId: args.room.sid, participantId: args.participant.sid, id: r.leaveId });
      return;
    }
    if (args.shouldSendEvent) {
      // this generation's leave was decided by an earlier call whose node died before queueing
      // it (this may be the SFU's retry): queued now, under its id, before the SFU goes on, so
      // a room_finished it sends next comes after it; once queued, nothing is left here
      const pending = await this.deps.registry.pendingLeave({ roomId: args.room.sid, participantId: args.participant.sid }, r.generation);
      if (pending) await this.relayLeaves([pending]);
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
      await this.deps.registry.ackLeave(l);
    }));
    if (leaves.length) this.deps.log.info({ relayed: leaves.length }, 'relayed participant leaves');
    return leaves.length;
  }

  async trackPublishRequested(args: T.TrackPublishArgs, ctx?: CallContext): Promise<void> {
    this.check('trackPublishRequested', args, ctx);
    if (!args.shouldSendEvent) return;
    const ev = newTrackEvent(E.TRACK_PUBLISH_REQUESTED, args.room, args.participantId, args.track);
    if (ev.participant) ev.participant.identity = args.identity;
    await this.send(ev, ctx);
  }

  async trackPublished(args: T.TrackPublishArgs, ctx?: CallContext): Promise<void> {
    this.check('trackPublished', args, ctx);
    if (!args.shouldSendEvent) return;
    const participant = new ParticipantInfo({ sid: args.participantId, identity: args.identity });
    await this.notify(webhookEvent(WEBHOOK.trackPublished, { room: args.room, participant, track: args.track }), ctx);
    const ev = newTrackEvent(E.TRACK_PUBLISHED, args.room, args.participantId, args.track);
    ev.participant = participant;
    await this.send(ev, ctx);
  }

  async trackUnpublished(args: T.TrackPublishArgs & { wasPublishedLocally?: boolean }, ctx?: CallContext): Promise<void> {
    this.check('trackUnpublished', args, ctx);
    if (!args.shouldSendEvent) return;
    const participant = new ParticipantInfo({ sid: args.participantId, identity: args.identity });
    await this.notify(webhookEvent(WEBHOOK.trackUnpublished, { room: args.room, participant, track: args.track }), ctx);
    await this.send(newTrackEvent(E.TRACK_UNPUBLISHED, args.room, args.participantId, args.track), ctx);
  }

  async trackSubscribeRequested(args: T.TrackArgs, ctx?: CallContext): Promise<void> {
    this.check('trackSubscribeRequested', args, ctx);
    await this.send(newTrackEvent(E.TRACK_SUBSCRIBE_REQUESTED, args.room, args.participantId, args.track), ctx);
  }

  async trackSubscribed(args: T.TrackArgs & { publisher?: ParticipantInfo; shouldSendEvent: boolean }, ctx?: CallContext): Promise<void> {
    this.check('trackSubscribed', args, ctx);
    if (!args.shouldSendEvent) return;
    const ev = newTrackEvent(E.TRACK_SUBSCRIBED, args.room, args.participantId, args.track);
    ev.publisher = args.publisher;
    await this.send(ev, ctx);
  }

  async trackUnsubscribed(args: T.TrackArgs & { shouldSendEvent: boolean }, ctx?: CallContext): Promise<void> {
    this.check('trackUnsubscribed', args, ctx);
    if (args.shouldSendEvent) await this.send(newTrackEvent(E.TRACK_UNSUBSCRIBED, args.room, args.participantId, args.track), ctx);
  }

  async trackSubscribeFailed(args: { room: Room; participantId: string; trackId: string; error: string; isUserError: boolean }, ctx?: CallContext): Promise<void> {
    this.check('trackSubscribeFailed', args, ctx);
    const ev = newTrackEvent(E.TRACK_SUBSCRIBE_FAILED, args.room, args.participantId, new TrackInfo({ sid: args.trackId }));
    ev.error = args.error;
    await this.send(ev, ctx);
  }

  async trackMuted(args: T.TrackArgs, ctx?: CallContext): Promise<void> {
    this.check('trackMuted', args, ctx);
    await this.send(newTrackEvent(E.TRACK_MUTED, args.room, args.participantId, args.track), ctx);
  }

  async trackUnmuted(args: T.TrackArgs, ctx?: CallContext): Promise<void> {
    this.check('trackUnmuted', args, ctx);
    await this.send(newTrackEvent(E.TRACK_UNMUTED, args.room, args.participantId, args.track), ctx);
  }

  async trackPublishedUpdate(args: T.TrackArgs, ctx?: CallContext): Promise<void> {
    this.check('trackPublishedUpdate', args, ctx);
    await this.send(newTrackEvent(E.TRACK_PUBLISHED_UPDATE, args.room, args.participantId, args.track), ctx);
  }

  async trackMaxSubscribedVideoQuality(args: T.TrackArgs & { mime: string; maxQuality: number }, ctx?: CallContext): Promise<void> {
    this.check('trackMaxSubscribedVideoQuality', args, ctx);
    const ev = newTrackEvent(E.TRACK_MAX_SUBSCRIBED_VIDEO_QUALITY, args.room, args.participantId, args.track);
    ev.maxSubscribedVideoQuality = args.maxQuality;
    ev.mime = args.mime;
    await this.send(ev, ctx);
  }

  async trackPublishRTPStats(args: { room: Room; participantId: string; trackId: string; mimeType: string; layer: number; stats: RTPStats }, ctx?: CallContext): Promise<void> {
    this.check('trackPublishRTPStats', args, ctx);
    const ev = newRoomEvent(E.TRACK_PUBLISH_STATS, minimalRoom(args.room));
    Object.assign(ev, { participantId: args.participantId, trackId: args.trackId, mime: args.mimeType, videoLayer: args.layer, rtpStats: args.stats });
    await this.send(ev, ctx);
  }

  async trackSubscribeRTPStats(args: { room: Room; participantId: string; trackId: string; mimeType: string; stats: RTPStats }, ctx?: CallContext): Promise<void> {
    this.check('trackSubscribeRTPStats', args, ctx);
    const ev = newRoomEvent(E.TRACK_SUBSCRIBE_STATS, minimalRoom(args.room));
    Object.assign(ev, { participantId: args.participantId, trackId: args.trackId, mime: args.mimeType, rtpStats: args.stats });
    await this.send(ev, ctx);
  }

  private async egress(name: string, type: AnalyticsEventType, info: EgressInfo, ctx: CallContext | undefined): Promise<void> {
    await this.notify(webhookEvent(name, { room: new Room({ sid: info.roomId, name: info.roomName }), egressInfo: info }), ctx);
    await this.send(newEgressEvent(type, info), ctx);
  }

  async egressStarted(args: { info: EgressInfo }, ctx?: CallContext): Promise<void> { this.check('egressStarted', args, ctx); await this.egress(WEBHOOK.egressStarted, E.EGRESS_STARTED, args.info, ctx); }
  async egressUpdated(args: { info: EgressInfo }, ctx?: CallContext): Promise<void> { this.check('egressUpdated', args, ctx); await this.egress(WEBHOOK.egressUpdated, E.EGRESS_UPDATED, args.info, ctx); }
  async egressEnded(args: { info: EgressInfo }, ctx?: CallContext): Promise<void> { this.check('egressEnded', args, ctx); await this.egress(WEBHOOK.egressEnded, E.EGRESS_ENDED, args.info, ctx); }

  private async ingress(type: AnalyticsEventType, info: IngressInfo, ctx: CallContext | undefined, webhook?: string): Promise<void> {
    if (webhook) await this.notify(webhookEvent(webhook, { room: new Room({ name: info.roomName }), ingressInfo: info }), ctx);
    await this.send(newIngressEvent(type, info), ctx);
  }

  async ingressCreated(args: { info: IngressInfo }, ctx?: CallContext): Promise<void> { this.check('ingressCreated', args, ctx); await this.ingress(E.INGRESS_CREATED, args.info, ctx); }
  async ingressDeleted(args: { info: IngressInfo }, ctx?: CallContext): Promise<void> { this.check('ingressDeleted', args, ctx); await this.ingress(E.INGRESS_DELETED, args.info, ctx); }
  async ingressStarted(args: { info: IngressInfo }, ctx?: CallContext): Promise<void> { this.check('ingressStarted', args, ctx); await this.ingress(E.INGRESS_STARTED, args.info, ctx, WEBHOOK.ingressStarted); }
  async ingressUpdated(args: { info: IngressInfo }, ctx?: CallContext): Promise<void> { this.check('ingressUpdated', args, ctx); await this.ingress(E.INGRESS_UPDATED, args.info, ctx); }
  async ingressEnded(args: { info: IngressInfo }, ctx?: CallContext): Promise<void> { this.check('ingressEnded', args, ctx); await this.ingress(E.INGRESS_ENDED, args.info, ctx, WEBHOOK.ingressEnded); }

  async localRoomState(args: { info: AnalyticsNodeRooms }, ctx?: CallContext): Promise<void> {
    this.check('localRoomState', args, ctx);
    const { info } = args;
    await this.deps.analytics.sendNodeRoomStates(info);
  }

  async report(args: { reportInfo: ReportInfo }, ctx?: CallContext): Promise<void> {
    this.check('report', args, ctx);
    const { reportInfo } = args;
    await this.send(new AnalyticsEvent({ type: E.REPORT, timestamp: Timestamp.now(), report: reportInfo }), ctx);
  }

  async apiCall(args: { apiCallInfo: APICallInfo }, ctx?: CallContext): Promise<void> {
    this.check('apiCall', args, ctx);
    const { apiCallInfo } = args;
    await this.send(new AnalyticsEvent({ type: E.API_CALL, timestamp: Timestamp.now(), apiCall: apiCallInfo }), ctx);
  }

  async webhook(args: { webhookInfo: WebhookInfo }, ctx?: CallContext): Promise<void> {
    this.check('webhook', args, ctx);
    const { webhookInfo } = args;
    await this.send(new AnalyticsEvent({ type: E.WEBHOOK, timestamp: Timestamp.now(), webhook: webhookInfo }), ctx);
  }

  async flushStats(): Promise<void> {
    const shards = Array.from({ length: this.deps.registry.keys.shards }, (_, s) => s);
    await Promise.all(shards.map((s) => this.deps.flusher.flushShard(s)));
  }
}
