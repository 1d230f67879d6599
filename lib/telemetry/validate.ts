import { InvalidRequestError, optionalGuard, optionalText, requireId } from '../registry/validate';
import type * as T from './types';

/** trackStats' ids form keys and the buffer's records. */
function validateTrackStats(a: T.TrackStatsArgs): void {
  requireId('roomId', a.roomId);
  requireId('key.participantId', a.key?.participantId);
  // a data channel's stats have no track id (LiveKit's StatsKeyForData with "")
  const trackId = a.key.trackId;
  if (typeof trackId !== 'string') throw new InvalidRequestError('key.trackId', 'must be a string');
  if (trackId.includes('\n') || a.roomId.includes('\n') || a.key.participantId.includes('\n')) {
    throw new InvalidRequestError('key', 'ids must not contain a newline');
  }
  if (a.key.streamType !== 'UPSTREAM' && a.key.streamType !== 'DOWNSTREAM') {
    throw new InvalidRequestError('key.streamType', "must be 'UPSTREAM' or 'DOWNSTREAM'");
  }
  if (typeof a.stat !== 'object' || a.stat === null || Array.isArray(a.stat)) {
    throw new InvalidRequestError('stat', 'must be an AnalyticsStat (class or protobuf JSON object)');
  }
}

/** What the registry will refuse in a participant call (its ids form the worker's key). */
function validateParticipantCall(method: string, a: { room?: { sid?: unknown; name?: unknown }; participant?: { sid?: unknown; identity?: unknown }; guard?: unknown; nodeId?: unknown }): void {
  requireId('room.sid', a.room?.sid);
  requireId('participant.sid', a.participant?.sid);
  optionalText('room.name', a.room?.name, 1024);
  optionalText('participant.identity', a.participant?.identity, 1024);
  const guard = optionalGuard(a.guard);
  if (guard && method !== 'participantLeft') requireId('nodeId', a.nodeId);
}

/**
 * Checks a call's arguments against every rule a later step would enforce, so a call (or a
 * whole HTTP batch) is refused before its first write rather than half-way through it.
 */
export function validateCall(method: keyof T.TelemetryService, args: object): void {
  switch (method) {
    case 'trackStats':
      return validateTrackStats(args as T.TrackStatsArgs);
    case 'participantJoined':
    case 'participantActive':
    case 'participantResumed':
    case 'participantLeft':
      return validateParticipantCall(method, args);
    default:
  }
}
