import {
  AnalyticsClientMeta, AnalyticsNodeRooms, APICallInfo, ClientInfo, EgressInfo, IngressInfo, ParticipantInfo,
  ReconnectReason, ReportInfo, Room, RTPStats, TrackInfo, VideoQuality, WebhookInfo,
} from '@livekit/protocol';
import type { TelemetryService } from '../telemetry/types';

/** A request that cannot be applied: the first bad event and field, nothing applied. */
export class BadRequest extends Error {
  constructor(readonly code: string, message: string, readonly index?: number) {
    super(message);
  }
}

type MessageClass = { fromJson(json: unknown, opts?: { ignoreUnknownFields?: boolean }): unknown };
type Kind = MessageClass | 'string' | 'boolean' | 'integer' | 'stat' | 'key' | { enum: Record<string, string | number> };
type Field = [name: string, kind: Kind, required: boolean];

const room: Field = ['room', Room, true];
const participant: Field = ['participant', ParticipantInfo, true];
const participantId: Field = ['participantId', 'string', true];
const track: Field = ['track', TrackInfo, true];
const guard: Field = ['guard', 'string', false];
const send: Field = ['shouldSendEvent', 'boolean', true];

/** Every TelemetryService method the API takes, with its argument fields (SPEC §3). */
export const METHODS: Record<string, Field[]> = {
  trackStats: [['roomId', 'string', true], ['roomName', 'string', false], ['key', 'key', true], ['stat', 'stat', true]],
  roomStarted: [room],
  roomEnded: [room],
  participantJoined: [room, participant, ['clientInfo', ClientInfo, false], ['clientMeta', AnalyticsClientMeta, false], send, guard],
  participantActive: [room, participant, ['clientMeta', AnalyticsClientMeta, false], ['isMigration', 'boolean', true], ['isWarp', 'boolean', false], guard],
  participantResumed: [room, participant, ['nodeId', 'string', false], ['reason', { enum: ReconnectReason }, false]],
  participantLeft: [room, participant, send, guard],
  trackPublishRequested: [room, participantId, ['identity', 'string', true], track, send],
  trackPublished: [room, participantId, ['identity', 'string', true], track, send],
  trackUnpublished: [room, participantId, ['identity', 'string', true], track, ['wasPublishedLocally', 'boolean', false], send],
  trackSubscribeRequested: [room, participantId, track],
  trackSubscribed: [room, participantId, track, ['publisher', ParticipantInfo, false], send],
  trackUnsubscribed: [room, participantId, track, send],
  trackSubscribeFailed: [room, participantId, ['trackId', 'string', true], ['error', 'string', true], ['isUserError', 'boolean', true]],
  trackMuted: [room, participantId, track],
  trackUnmuted: [room, participantId, track],
  trackPublishedUpdate: [room, participantId, track],
  trackMaxSubscribedVideoQuality: [room, participantId, track, ['mime', 'string', true], ['maxQuality', { enum: VideoQuality }, true]],
  trackPublishRTPStats: [room, participantId, ['trackId', 'string', true], ['mimeType', 'string', true], ['layer', 'integer', true], ['stats', RTPStats, true]],
  trackSubscribeRTPStats: [room, participantId, ['trackId', 'string', true], ['mimeType', 'string', true], ['stats', RTPStats, true]],
  egressStarted: [['info', EgressInfo, true]],
  egressUpdated: [['info', EgressInfo, true]],
  egressEnded: [['info', EgressInfo, true]],
  ingressCreated: [['info', IngressInfo, true]],
  ingressDeleted: [['info', IngressInfo, true]],
  ingressStarted: [['info', IngressInfo, true]],
  ingressUpdated: [['info', IngressInfo, true]],
  ingressEnded: [['info', IngressInfo, true]],
  localRoomState: [['info', AnalyticsNodeRooms, true]],
  report: [['reportInfo', ReportInfo, true]],
  apiCall: [['apiCallInfo', APICallInfo, true]],
  webhook: [['webhookInfo', WebhookInfo, true]],
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function decodeField(name: string, kind: Kind, v: unknown, index: number): unknown {
  const bad = (what: string) => new BadRequest('invalid_field', `events[${index}].${name}: ${what}`, index);
  if (kind === 'string') { if (typeof v !== 'string') throw bad('must be a string'); return v; }
  if (kind === 'boolean') { if (typeof v !== 'boolean') throw bad('must be true or false'); return v; }
  if (kind === 'integer') { if (!Number.isInteger(v)) throw bad('must be an integer'); return v; }
  if (kind === 'stat') { if (!isObject(v)) throw bad('must be an AnalyticsStat object (protobuf JSON)'); return v; }
  if (kind === 'key') {
    if (!isObject(v)) throw bad('must be an object { streamType, participantId, trackId }');
    if (v.streamType !== 'UPSTREAM' && v.streamType !== 'DOWNSTREAM') throw bad("streamType must be 'UPSTREAM' or 'DOWNSTREAM'");
    if (typeof v.participantId !== 'string' || !v.participantId) throw bad('participantId must be a non-empty string');
    if (typeof v.trackId !== 'string') throw bad('trackId must be a string');
    return v;
  }
  if (typeof kind === 'object' && 'enum' in kind) {
    const e = kind.enum;
    if (typeof v === 'string' && v in e && typeof e[v] === 'number') return e[v];
    if (typeof v === 'number' && typeof e[v] === 'string') return v;
    throw bad(`must be one of ${Object.keys(e).filter((k) => Number.isNaN(Number(k))).join(', ')}`);
  }
  if (!isObject(v)) throw bad('must be an object (protobuf JSON)');
  try {
    return (kind as MessageClass).fromJson(v);
  } catch (e) {
    throw bad((e as Error).message);
  }
}

export interface DecodedEvent {
  method: keyof TelemetryService;
  id?: string;
  args: Record<string, unknown>;
}

/** Validates a whole `events` batch before anything is applied; throws on the first bad event. */
export function decodeEvents(events: unknown, maxEvents = 1000): DecodedEvent[] {
  if (!Array.isArray(events)) throw new BadRequest('invalid_body', 'events: must be an array');
  if (events.length === 0 || events.length > maxEvents) throw new BadRequest('invalid_body', `events: must hold 1 to ${maxEvents} events (got ${events.length})`);
  return events.map((raw, index) => {
    if (!isObject(raw)) throw new BadRequest('invalid_event', `events[${index}]: must be an object`, index);
    const { method, id, ...rest } = raw;
    if (typeof method !== 'string' || !(method in METHODS)) {
      throw new BadRequest('unknown_method', `events[${index}].method: ${JSON.stringify(method)} is not a TelemetryService method`, index);
    }
    if (id !== undefined && (typeof id !== 'string' || id.length === 0 || id.length > 256)) {
      throw new BadRequest('invalid_field', `events[${index}].id: must be a string of 1 to 256 characters`, index);
    }
    const fields = METHODS[method];
    const known = new Set(fields.map(([n]) => n));
    for (const name of Object.keys(rest)) {
      if (!known.has(name)) throw new BadRequest('invalid_field', `events[${index}].${name}: not a field of ${method}`, index);
    }
    const args: Record<string, unknown> = {};
    for (const [name, kind, required] of fields) {
      const v = rest[name];
      if (v === undefined || v === null) {
        if (required) throw new BadRequest('missing_field', `events[${index}].${name}: required by ${method}`, index);
        continue;
      }
      args[name] = decodeField(name, kind, v, index);
    }
    return { method: method as keyof TelemetryService, id: id as string | undefined, args };
  });
}
