import type { WebhookEvent } from '@livekit/protocol';

/** LiveKit's webhook EventKey: events of one key are delivered in order. */
export function eventKey(event: WebhookEvent): string {
  if (event.egressInfo) return `egress:${event.egressInfo.egressId}`;
  if (event.ingressInfo) return `ingress:${event.ingressInfo.ingressId}`;
  if (event.room) return `room:${event.room.name}`;
  if (event.participant) return `participant:${event.participant.identity}`;
  if (event.track) return `track:${event.track.sid}`;
  return 'default';
}
