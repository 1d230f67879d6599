import {
  AnalyticsClientMeta, AnalyticsNodeRooms, APICallInfo, ClientInfo, EgressInfo, IngressInfo, ParticipantInfo,
  ReconnectReason, ReportInfo, Room, RTPStats, TrackInfo, TrackSource, TrackType, VideoQuality, WebhookInfo,
} from '@livekit/protocol';
import type { TelemetryService } from './types';

/** Every call the fleet takes: LiveKit's TelemetryService less flushStats, which is local. */
export type Method = Exclude<keyof TelemetryService, 'flushStats'>;
export type ArgsOf<M extends Method> = Parameters<TelemetryService[M]>[0];

type MessageClass = { new (): object; fromJson(json: unknown): object; typeName: string };

/** How a field is read off the wire and what it must hold. */
export type Kind =
  /** A string that names something (room sid, participant sid, guard): 1 to 256 bytes, no '|' or newline. */
  | { t: 'id' }
  /** A free string: at most `max` bytes (a track id may be empty). */
  | { t: 'text'; max: number; line?: boolean }
  | { t: 'boolean' }
  | { t: 'int32' }
  | { t: 'enum'; values: Record<string, string | number> }
  /** A protobuf message in protobuf JSON, parsed strictly; `ids` name its fields that must be ids. */
  | { t: 'message'; type: MessageClass; ids?: string[] }
  /** An AnalyticsStat, kept as its protobuf JSON (see stat-json.ts). */
  | { t: 'stat' }
  /** A StatsKey. */
  | { t: 'key' }
  /** The SFU node that owns the call's guard: set by the API from the batch, never sent per event. */
  | { t: 'owner' };

export interface FieldSpec<R extends boolean = boolean> {
  kind: Kind;
  required: R;
}

/**
 * The fields of a method's argument, every one of them: the compiler checks that each
 * field of the interface's argument type has an entry, required exactly when the type
 * requires it.
 */
export type FieldsOf<A> = { [F in keyof A & string]-?: undefined extends A[F] ? FieldSpec<false> : FieldSpec<true> };

export interface MethodSpec<M extends Method> {
  fields: FieldsOf<ArgsOf<M>>;
  /** Carries a guard owned by the sending SFU node (its `nodeId` comes from the batch). */
  guarded?: boolean;
  /**
   * Its only effect is one write issued the moment it is called (a stat buffered, one
   * analytics event appended): calls of these made back to back reach Redis in call order,
   * so a run of them may be sent together and awaited as a run.
   */
  singleWrite?: boolean;
}

const req = (kind: Kind): FieldSpec<true> => ({ kind, required: true });
const opt = (kind: Kind): FieldSpec<false> => ({ kind, required: false });

export const NAME_BYTES = 256;
const id: Kind = { t: 'id' };
const name: Kind = { t: 'text', max: NAME_BYTES };
const bool: Kind = { t: 'boolean' };
const message = (type: MessageClass, ids?: string[]): Kind => ({ t: 'message', type, ids });

const room = req(message(Room));
const participant = req(message(ParticipantInfo));
// the participant calls key a stats worker by (room sid, participant sid)
const workerRoom = req(message(Room, ['sid']));
const workerParticipant = req(message(ParticipantInfo, ['sid']));
const participantId = req(id);
const track = req(message(TrackInfo));
const send = req(bool);
const info = <T extends MessageClass>(type: T) => ({ info: req(message(type)) });

/** Every TelemetryService method, its fields, and how it is applied: the one table the API, the service and the client read. */
export const METHODS: { [M in Method]: MethodSpec<M> } = {
  trackStats: {
    fields: { roomId: req(id), roomName: opt(name), key: req({ t: 'key' }), stat: req({ t: 'stat' }) },
    singleWrite: true,
  },
  roomStarted: { fields: { room } },
  roomEnded: { fields: { room } },
  participantJoined: {
    fields: {
      room: workerRoom, participant: workerParticipant, clientInfo: opt(message(ClientInfo)), clientMeta: opt(message(AnalyticsClientMeta)),
      shouldSendEvent: send, guard: opt(id), nodeId: opt({ t: 'owner' }),
    },
    guarded: true,
  },
  participantActive: {
    fields: {
      room: workerRoom, participant: workerParticipant, clientMeta: opt(message(AnalyticsClientMeta)), isMigration: req(bool), isWarp: opt(bool),
      guard: opt(id), nodeId: opt({ t: 'owner' }),
    },
    guarded: true,
  },
  participantResumed: { fields: { room: workerRoom, participant: workerParticipant, nodeId: opt(name), reason: opt({ t: 'enum', values: ReconnectReason }) } },
  participantLeft: { fields: { room: workerRoom, participant: workerParticipant, shouldSendEvent: send, guard: opt(id) } },
  trackPublishRequested: { fields: { room, participantId, identity: req(name), track, shouldSendEvent: send }, singleWrite: true },
  trackPublished: { fields: { room, participantId, identity: req(name), track, shouldSendEvent: send } },
  trackUnpublished: {
    fields: { room, participantId, identity: req(name), track, wasPublishedLocally: opt(bool), shouldSendEvent: send },
  },
  trackSubscribeRequested: { fields: { room, participantId, track }, singleWrite: true },
  trackSubscribed: { fields: { room, participantId, track, publisher: opt(message(ParticipantInfo)), shouldSendEvent: send }, singleWrite: true },
  trackUnsubscribed: { fields: { room, participantId, track, shouldSendEvent: send }, singleWrite: true },
  trackSubscribeFailed: {
    fields: { room, participantId, trackId: req(name), error: req({ t: 'text', max: 4096 }), isUserError: req(bool) },
    singleWrite: true,
  },
  trackMuted: { fields: { room, participantId, track }, singleWrite: true },
  trackUnmuted: { fields: { room, participantId, track }, singleWrite: true },
  trackPublishedUpdate: { fields: { room, participantId, track }, singleWrite: true },
  trackMaxSubscribedVideoQuality: {
    fields: { room, participantId, track, mime: req(name), maxQuality: req({ t: 'enum', values: VideoQuality }) },
    singleWrite: true,
  },
  trackPublishRTPStats: {
    fields: { room, participantId, trackId: req(name), mimeType: req(name), layer: req({ t: 'int32' }), stats: req(message(RTPStats)) },
    singleWrite: true,
  },
  trackSubscribeRTPStats: {
    fields: { room, participantId, trackId: req(name), mimeType: req(name), stats: req(message(RTPStats)) },
    singleWrite: true,
  },
  egressStarted: { fields: info(EgressInfo) },
  egressUpdated: { fields: info(EgressInfo) },
  egressEnded: { fields: info(EgressInfo) },
  ingressCreated: { fields: info(IngressInfo), singleWrite: true },
  ingressDeleted: { fields: info(IngressInfo), singleWrite: true },
  ingressStarted: { fields: info(IngressInfo) },
  ingressUpdated: { fields: info(IngressInfo), singleWrite: true },
  ingressEnded: { fields: info(IngressInfo) },
  localRoomState: { fields: info(AnalyticsNodeRooms), singleWrite: true },
  report: { fields: { reportInfo: req(message(ReportInfo)) }, singleWrite: true },
  apiCall: { fields: { apiCallInfo: req(message(APICallInfo)) }, singleWrite: true },
  webhook: { fields: { webhookInfo: req(message(WebhookInfo)) }, singleWrite: true },
};

/** The StatsKey's fields (LiveKit's StatsKey), read like a method's. */
export const STATS_KEY_FIELDS = {
  streamType: req({ t: 'enum', values: { UPSTREAM: 'UPSTREAM', DOWNSTREAM: 'DOWNSTREAM' } }),
  participantId: req(id),
  trackId: req({ t: 'text', max: NAME_BYTES, line: true }),
  trackSource: opt({ t: 'enum', values: TrackSource }),
  trackType: opt({ t: 'enum', values: TrackType }),
  country: opt(name),
  track: opt(bool),
} satisfies Record<string, FieldSpec>;

/** Own properties only: `toString` or `__proto__` is not a method. */
export function isMethod(name: unknown): name is Method {
  return typeof name === 'string' && Object.hasOwn(METHODS, name);
}

export const METHOD_NAMES = Object.keys(METHODS) as Method[];
export const SINGLE_WRITE_METHODS: ReadonlySet<Method> = new Set(METHOD_NAMES.filter((m) => METHODS[m].singleWrite));
export const GUARDED_METHODS: ReadonlySet<Method> = new Set(METHOD_NAMES.filter((m) => METHODS[m].guarded));
