import type {
  AnalyticsClientMeta, AnalyticsNodeRooms, AnalyticsStat, APICallInfo, ClientInfo, EgressInfo,
  IngressInfo, ParticipantInfo, ReconnectReason, ReportInfo, Room, RTPStats, TrackInfo,
  TrackSource, TrackType, VideoQuality, WebhookInfo,
} from '@livekit/protocol';

/**
 * LiveKit's TelemetryService (pkg/telemetry), one object per call whose fields are
 * LiveKit's parameter names in camelCase. Messages are @livekit/protocol classes (the HTTP
 * layer turns protobuf JSON into them). `guard` is an opaque connection id owned by
 * `nodeId`; absent = no reference change. Every method resolves once its effects are in
 * Redis (webhooks queued, analytics written).
 */
export interface TelemetryService {
  trackStats(a: TrackStatsArgs): Promise<void>;

  roomStarted(a: { room: Room }): Promise<void>;
  roomEnded(a: { room: Room }): Promise<void>;

  participantJoined(a: ParticipantJoinedArgs): Promise<void>;
  participantActive(a: ParticipantActiveArgs): Promise<void>;
  participantResumed(a: ParticipantResumedArgs): Promise<void>;
  participantLeft(a: ParticipantLeftArgs): Promise<void>;

  trackPublishRequested(a: TrackPublishArgs): Promise<void>;
  trackPublished(a: TrackPublishArgs): Promise<void>;
  trackUnpublished(a: TrackPublishArgs & { wasPublishedLocally?: boolean }): Promise<void>;
  trackSubscribeRequested(a: TrackArgs): Promise<void>;
  trackSubscribed(a: TrackArgs & { publisher?: ParticipantInfo; shouldSendEvent: boolean }): Promise<void>;
  trackUnsubscribed(a: TrackArgs & { shouldSendEvent: boolean }): Promise<void>;
  trackSubscribeFailed(a: { room: Room; participantId: string; trackId: string; error: string; isUserError: boolean }): Promise<void>;
  trackMuted(a: TrackArgs): Promise<void>;
  trackUnmuted(a: TrackArgs): Promise<void>;
  trackPublishedUpdate(a: TrackArgs): Promise<void>;
  trackMaxSubscribedVideoQuality(a: TrackArgs & { mime: string; maxQuality: VideoQuality }): Promise<void>;
  trackPublishRTPStats(a: { room: Room; participantId: string; trackId: string; mimeType: string; layer: number; stats: RTPStats }): Promise<void>;
  trackSubscribeRTPStats(a: { room: Room; participantId: string; trackId: string; mimeType: string; stats: RTPStats }): Promise<void>;

  egressStarted(a: { info: EgressInfo }): Promise<void>;
  egressUpdated(a: { info: EgressInfo }): Promise<void>;
  egressEnded(a: { info: EgressInfo }): Promise<void>;
  ingressCreated(a: { info: IngressInfo }): Promise<void>;
  ingressDeleted(a: { info: IngressInfo }): Promise<void>;
  ingressStarted(a: { info: IngressInfo }): Promise<void>;
  ingressUpdated(a: { info: IngressInfo }): Promise<void>;
  ingressEnded(a: { info: IngressInfo }): Promise<void>;

  localRoomState(a: { info: AnalyticsNodeRooms }): Promise<void>;
  report(a: { reportInfo: ReportInfo }): Promise<void>;
  apiCall(a: { apiCallInfo: APICallInfo }): Promise<void>;
  webhook(a: { webhookInfo: WebhookInfo }): Promise<void>;

  /** Flushes every buffered stat now (what the FLUSH_INTERVAL job does). */
  flushStats(): Promise<void>;
}

/** LiveKit's StatsKey: which track, which direction. */
export interface StatsKey {
  /** 'DOWNSTREAM' = outgoing (subscriber side); anything else is incoming. */
  streamType: 'UPSTREAM' | 'DOWNSTREAM';
  participantId: string;
  trackId: string;
  trackSource?: TrackSource;
  trackType?: TrackType;
  country?: string;
  /** A media track (StatsKeyForTrack), not data (StatsKeyForData). */
  track?: boolean;
}

export interface TrackStatsArgs {
  roomId: string;
  /** Not read: the flush stamps the room name its worker holds. */
  roomName?: string;
  key: StatsKey;
  /** The class, or its protobuf JSON form as an SFU sends it over HTTP (kept as it is). */
  stat: AnalyticsStat | AnalyticsStatJson;
}

/** AnalyticsStat in protobuf JSON form: what the flush reads back. */
export type AnalyticsStatJson = ReturnType<AnalyticsStat['toJson']> & { streams?: AnalyticsStreamJson[] };

/** The fields of a stream the traffic counters read (uint64 as strings in protobuf JSON). */
export interface AnalyticsStreamJson {
  primaryPackets?: number; primaryBytes?: string | number; retransmitPackets?: number; retransmitBytes?: string | number;
  paddingPackets?: number; paddingBytes?: string | number; nacks?: number; plis?: number; firs?: number;
}

export interface ParticipantJoinedArgs {
  room: Room;
  participant: ParticipantInfo;
  clientInfo?: ClientInfo;
  clientMeta?: AnalyticsClientMeta;
  shouldSendEvent: boolean;
  guard?: string;
  /** The SFU node that owns `guard`. */
  nodeId?: string;
}

export interface ParticipantActiveArgs {
  room: Room;
  participant: ParticipantInfo;
  clientMeta?: AnalyticsClientMeta;
  isMigration: boolean;
  isWarp?: boolean;
  guard?: string;
  nodeId?: string;
}

export interface ParticipantResumedArgs {
  room: Room;
  participant: ParticipantInfo;
  nodeId?: string;
  reason?: ReconnectReason;
}

export interface ParticipantLeftArgs {
  room: Room;
  participant: ParticipantInfo;
  shouldSendEvent: boolean;
  guard?: string;
}

export interface TrackArgs {
  room: Room;
  participantId: string;
  track: TrackInfo;
}

export interface TrackPublishArgs extends TrackArgs {
  identity: string;
  shouldSendEvent: boolean;
}
