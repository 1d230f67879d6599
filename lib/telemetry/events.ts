import { Timestamp } from '@bufbuild/protobuf';
import {
  AnalyticsEvent, AnalyticsEventType, ParticipantInfo, Room, TrackInfo, WebhookEvent,
  type EgressInfo, type IngressInfo,
} from '@livekit/protocol';

/** The event builders of LiveKit's pkg/telemetry/events.go, one place for every shape. */

export const WEBHOOK = {
  roomStarted: 'room_started',
  roomFinished: 'room_finished',
  participantJoined: 'participant_joined',
  participantLeft: 'participant_left',
  participantConnectionAborted: 'participant_connection_aborted',
  trackPublished: 'track_published',
  trackUnpublished: 'track_unpublished',
  egressStarted: 'egress_started',
  egressUpdated: 'egress_updated',
  egressEnded: 'egress_ended',
  ingressStarted: 'ingress_started',
  ingressEnded: 'ingress_ended',
} as const;

export function webhookEvent(event: string, fields: Partial<WebhookEvent> = {}): WebhookEvent {
  return new WebhookEvent({ ...fields, event });
}

/** Track events carry only the room's sid and name. */
export function minimalRoom(room: Room | undefined): Room | undefined {
  return room ? new Room({ sid: room.sid, name: room.name }) : undefined;
}

export function newRoomEvent(type: AnalyticsEventType, room: Room | undefined): AnalyticsEvent {
  const ev = new AnalyticsEvent({ type, timestamp: Timestamp.now() });
  if (room) {
    ev.room = room;
    ev.roomId = room.sid;
  }
  return ev;
}

export function newParticipantEvent(type: AnalyticsEventType, room: Room | undefined, participant: ParticipantInfo | undefined): AnalyticsEvent {
  const ev = newRoomEvent(type, room);
  if (participant) {
    ev.participantId = participant.sid;
    ev.participant = participant;
  }
  return ev;
}

export function newTrackEvent(type: AnalyticsEventType, room: Room | undefined, participantId: string, track: TrackInfo | undefined): AnalyticsEvent {
  const ev = newParticipantEvent(type, minimalRoom(room), new ParticipantInfo({ sid: participantId }));
  if (track) {
    ev.trackId = track.sid;
    ev.track = track;
  }
  return ev;
}

export function newEgressEvent(type: AnalyticsEventType, egress: EgressInfo): AnalyticsEvent {
  return new AnalyticsEvent({ type, timestamp: Timestamp.now(), egressId: egress.egressId, roomId: egress.roomId, egress });
}

export function newIngressEvent(type: AnalyticsEventType, ingress: IngressInfo): AnalyticsEvent {
  return new AnalyticsEvent({ type, timestamp: Timestamp.now(), ingressId: ingress.ingressId, ingress });
}

/** The webhook and analytics event of a participant's one leave. */
export function leaveEvents(room: Room, participant: ParticipantInfo, wasConnected: boolean): { webhook: WebhookEvent; analytics: AnalyticsEvent } {
  return {
    webhook: webhookEvent(wasConnected ? WEBHOOK.participantLeft : WEBHOOK.participantConnectionAborted, { room, participant }),
    analytics: newParticipantEvent(
      wasConnected ? AnalyticsEventType.PARTICIPANT_LEFT : AnalyticsEventType.PARTICIPANT_CONNECTION_ABORTED, room, participant),
  };
}
