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
  trackStats(args: TrackStatsArgs): Promise<void>;

  roomStarted(args: { room: Room }): Promise<void>;
  roomEnded(args: { room: Room }): Promise<void>;

  participantJoined(args: ParticipantJoinedArgs): Promise<void>;
  participantActive(args: ParticipantActiveArgs): Promise<void>;
  participantResumed(args: ParticipantResumedArgs): Promise<void>;
  participantLeft(args: ParticipantLeftArgs): Promise<void>;

  trackPublishRequested(args: TrackPublishArgs): Promise<void>;
  trackPublished(args: TrackPublishArgs): Promise<void>;
  trackUnpublished(args: TrackPublishArgs & { wasPublishedLocally?: boolean }): Promise<void>;
  trackSubscribeRequested(args: TrackArgs): Promise<void>;
  trackSubscribed(args: TrackArgs & { publisher?: ParticipantInfo; shouldSendEvent: boolean }): Promise<void>;
  trackUnsubscribed(args: TrackArgs & { shouldSendEvent: boolean }): Promise<void>;
  trackSubscribeFailed(args: { room: Room; participantId: string; trackId: string; error: string; isUserError: boolean }): Promise<void>;
  trackMuted(args: TrackArgs): Promise<void>;
  trackUnmuted(args: TrackArgs): Promise<void>;
  trackPublishedUpdate(args: TrackArgs): Promise<void>;
  trackMaxSubscribedVideoQuality(args: TrackArgs & { mime: string; maxQuality: VideoQuality }): Promise<void>;
  trackPublishRTPStats(args: { room: Room; participantId: string; trackId: string; mimeType: string; layer: number; stats: RTPStats }): Promise<void>;
  trackSubscribeRTPStats(args: { room: Room; participantId: string; trackId: string; mimeType: string; stats: RTPStats }): Promise<void>;

  egressStarted(args: { info: EgressInfo }): Promise<void>;
  egressUpdated(args: { info: EgressInfo }): Promise<void>;
  egressEnded(args: { info: EgressInfo }): Promise<void>;
  ingressCreated(args: { info: IngressInfo }): Promise<void>;
  ingressDeleted(args: { info: IngressInfo }): Promise<void>;
  ingressStarted(args: { info: IngressInfo }): Promise<void>;
  ingressUpdated(args: { info: IngressInfo }): Promise<void>;
  ingressEnded(args: { info: IngressInfo }): Promise<void>;

  localRoomState(args: { info: AnalyticsNodeRooms }): Promise<void>;
  report(args: { reportInfo: ReportInfo }): Promise<void>;
  apiCall(args: { apiCallInfo: APICallInfo }): Promise<void>;
  webhook(args: { webhookInfo: WebhookInfo }): Promise<void>;

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
