import {
  AnalyticsEventType as E, AnalyticsNodeRooms, APICallInfo, EgressInfo, IngressInfo, ParticipantInfo,
  ReportInfo, Room, RTPStats, TrackInfo, WebhookInfo,
} from '@livekit/protocol';
import { expect } from 'chai';
import type { TelemetryService } from '../../lib/telemetry/types';
import { ids } from '../support/fixture';
import { useTelemetry } from '../support/telemetry';

/**
 * Every TelemetryService method (lib/telemetry/types.ts) and its effects: the webhooks raised and the
 * analytics events sent, as LiveKit's events.go does.
 */
describe('telemetry service: the effects of every method', () => {
  const t = useTelemetry();
  // this test's ids, made afresh before it
  let roomId: string;
  let roomName: string;
  let participantId: string;
  let identity: string;
  let trackId: string;
  let egressId: string;
  let node: string;
  beforeEach(() => {
    ({ sid: roomId, name: roomName } = ids.roomInfo());
    ({ sid: participantId, identity } = ids.participantInfo());
    trackId = ids.of('TR_');
    egressId = ids.of('EG_');
    node = ids.node();
  });

  const room = () => new Room({ sid: roomId, name: roomName, creationTime: 1_700_000_000n, numParticipants: 3 });
  const participant = () => new ParticipantInfo({ sid: participantId, identity });
  const track = () => new TrackInfo({ sid: trackId, name: 'cam' });
  const egress = () => new EgressInfo({ egressId, roomId, roomName });
  const ingress = () => new IngressInfo({ ingressId: ids.of('IN_'), roomName });

  type Case = [string, (s: TelemetryService) => Promise<void>, string[], E[]];
  const cases: Case[] = [
    ['roomStarted', (s) => s.roomStarted({ room: room() }), ['room_started'], [E.ROOM_CREATED]],
    ['roomEnded', (s) => s.roomEnded({ room: room() }), ['room_finished'], [E.ROOM_ENDED]],
    ['participantJoined (shouldSendEvent)', (s) => s.participantJoined({ room: room(), participant: participant(), shouldSendEvent: true, guard: 'g', nodeId: node }), [], [E.PARTICIPANT_JOINED]],
    ['participantJoined (no event)', (s) => s.participantJoined({ room: room(), participant: participant(), shouldSendEvent: false, guard: 'g', nodeId: node }), [], []],
    ['participantActive', (s) => s.participantActive({ room: room(), participant: participant(), isMigration: false, guard: 'g', nodeId: node }), ['participant_joined'], [E.PARTICIPANT_ACTIVE]],
    ['participantActive (migration: no webhook)', (s) => s.participantActive({ room: room(), participant: participant(), isMigration: true, guard: 'g', nodeId: node }), [], [E.PARTICIPANT_ACTIVE]],
    ['participantResumed', (s) => s.participantResumed({ room: room(), participant: participant(), nodeId: node }), [], [E.PARTICIPANT_RESUMED]],
    ['participantLeft (never active: aborted)', async (s) => {
      await s.participantJoined({ room: room(), participant: participant(), shouldSendEvent: false, guard: 'g', nodeId: node });
      await s.participantLeft({ room: room(), participant: participant(), shouldSendEvent: true, guard: 'g' });
    }, ['participant_connection_aborted'], [E.PARTICIPANT_CONNECTION_ABORTED]],
    ['participantLeft (active: left)', async (s) => {
      await s.participantActive({ room: room(), participant: participant(), isMigration: true, guard: 'g', nodeId: node });
      await s.participantLeft({ room: room(), participant: participant(), shouldSendEvent: true, guard: 'g' });
    }, ['participant_left'], [E.PARTICIPANT_ACTIVE, E.PARTICIPANT_LEFT]],
    ['participantLeft (no event)', async (s) => {
      await s.participantActive({ room: room(), participant: participant(), isMigration: true, guard: 'g', nodeId: node });
      await s.participantLeft({ room: room(), participant: participant(), shouldSendEvent: false, guard: 'g' });
    }, [], [E.PARTICIPANT_ACTIVE]],
    ['participantLeft (no worker anywhere: aborted)', (s) => s.participantLeft({ room: room(), participant: participant(), shouldSendEvent: true }), ['participant_connection_aborted'], [E.PARTICIPANT_CONNECTION_ABORTED]],
    ['trackPublishRequested', (s) => s.trackPublishRequested({ room: room(), participantId, identity: 'a', track: track(), shouldSendEvent: true }), [], [E.TRACK_PUBLISH_REQUESTED]],
    ['trackPublished', (s) => s.trackPublished({ room: room(), participantId, identity: 'a', track: track(), shouldSendEvent: true }), ['track_published'], [E.TRACK_PUBLISHED]],
    ['trackPublished (no event)', (s) => s.trackPublished({ room: room(), participantId, identity: 'a', track: track(), shouldSendEvent: false }), [], []],
    ['trackUnpublished', (s) => s.trackUnpublished({ room: room(), participantId, identity: 'a', track: track(), shouldSendEvent: true }), ['track_unpublished'], [E.TRACK_UNPUBLISHED]],
    ['trackSubscribeRequested', (s) => s.trackSubscribeRequested({ room: room(), participantId, track: track() }), [], [E.TRACK_SUBSCRIBE_REQUESTED]],
    ['trackSubscribed', (s) => s.trackSubscribed({ room: room(), participantId, track: track(), publisher: participant(), shouldSendEvent: true }), [], [E.TRACK_SUBSCRIBED]],
    ['trackUnsubscribed', (s) => s.trackUnsubscribed({ room: room(), participantId, track: track(), shouldSendEvent: true }), [], [E.TRACK_UNSUBSCRIBED]],
    ['trackSubscribeFailed', (s) => s.trackSubscribeFailed({ room: room(), participantId, trackId, error: 'no permission', isUserError: true }), [], [E.TRACK_SUBSCRIBE_FAILED]],
    ['trackMuted', (s) => s.trackMuted({ room: room(), participantId, track: track() }), [], [E.TRACK_MUTED]],
    ['trackUnmuted', (s) => s.trackUnmuted({ room: room(), participantId, track: track() }), [], [E.TRACK_UNMUTED]],
    ['trackPublishedUpdate', (s) => s.trackPublishedUpdate({ room: room(), participantId, track: track() }), [], [E.TRACK_PUBLISHED_UPDATE]],
    ['trackMaxSubscribedVideoQuality', (s) => s.trackMaxSubscribedVideoQuality({ room: room(), participantId, track: track(), mime: 'video/VP8', maxQuality: 2 }), [], [E.TRACK_MAX_SUBSCRIBED_VIDEO_QUALITY]],
    ['trackPublishRTPStats', (s) => s.trackPublishRTPStats({ room: room(), participantId, trackId, mimeType: 'video/VP8', layer: 2, stats: new RTPStats({ packets: 10 }) }), [], [E.TRACK_PUBLISH_STATS]],
    ['trackSubscribeRTPStats', (s) => s.trackSubscribeRTPStats({ room: room(), participantId, trackId, mimeType: 'audio/opus', stats: new RTPStats({ packets: 10 }) }), [], [E.TRACK_SUBSCRIBE_STATS]],
    ['egressStarted', (s) => s.egressStarted({ info: egress() }), ['egress_started'], [E.EGRESS_STARTED]],
    ['egressUpdated', (s) => s.egressUpdated({ info: egress() }), ['egress_updated'], [E.EGRESS_UPDATED]],
    ['egressEnded', (s) => s.egressEnded({ info: egress() }), ['egress_ended'], [E.EGRESS_ENDED]],
    ['ingressCreated', (s) => s.ingressCreated({ info: ingress() }), [], [E.INGRESS_CREATED]],
    ['ingressDeleted', (s) => s.ingressDeleted({ info: ingress() }), [], [E.INGRESS_DELETED]],
    ['ingressStarted', (s) => s.ingressStarted({ info: ingress() }), ['ingress_started'], [E.INGRESS_STARTED]],
    ['ingressUpdated', (s) => s.ingressUpdated({ info: ingress() }), [], [E.INGRESS_UPDATED]],
    ['ingressEnded', (s) => s.ingressEnded({ info: ingress() }), ['ingress_ended'], [E.INGRESS_ENDED]],
    ['report', (s) => s.report({ reportInfo: new ReportInfo() }), [], [E.REPORT]],
    ['apiCall', (s) => s.apiCall({ apiCallInfo: new APICallInfo({ service: 'RoomService', method: 'CreateRoom' }) }), [], [E.API_CALL]],
    ['webhook', (s) => s.webhook({ webhookInfo: new WebhookInfo({ event: 'room_started' }) }), [], [E.WEBHOOK]],
  ];

  for (const [name, call, webhooks, events] of cases) {
    it(`${name} -> webhooks [${webhooks.join(', ')}], analytics [${events.map((e) => E[e]).join(', ')}]`, async () => {
      await call(t.service);
      expect(t.notifier.names()).to.deep.equal(webhooks);
      expect(t.analytics.events.map((e) => E[e.type])).to.deep.equal(events.map((e) => E[e]));
    });
  }

  it('localRoomState sends node room states', async () => {
    await t.service.localRoomState({ info: new AnalyticsNodeRooms({ nodeId: node }) });
    expect(t.analytics.nodeRooms).to.have.length(1);
    expect(t.notifier.events).to.have.length(0);
  });

  it('track events carry a minimal room (sid, name)', async () => {
    await t.service.trackMuted({ room: room(), participantId, track: track() });
    const [ev] = t.analytics.events;
    expect(ev.room?.toJson()).to.deep.equal({ sid: roomId, name: roomName });
    expect(ev.participantId).to.equal(participantId);
    expect(ev.trackId).to.equal(trackId);
  });

  it('egress webhooks carry the egress and its room; egress events key on the egress id', async () => {
    await t.service.egressEnded({ info: egress() });
    const [w] = t.notifier.events;
    expect(w.egressInfo?.egressId).to.equal(egressId);
    expect(w.room?.toJson()).to.deep.equal({ sid: roomId, name: roomName });
    expect(t.analytics.events[0].egressId).to.equal(egressId);
  });

  it('the room_started analytics event is stamped with the room creation time', async () => {
    await t.service.roomStarted({ room: room() });
    expect(t.analytics.events[0].timestamp?.seconds).to.equal(1_700_000_000n);
  });

  it('participant webhooks carry the room and the participant', async () => {
    await t.service.participantActive({ room: room(), participant: participant(), isMigration: false, guard: 'g', nodeId: node });
    const [w] = t.notifier.events;
    expect(w.room?.sid).to.equal(roomId);
    expect(w.participant?.identity).to.equal(identity);
    expect(w.id).to.match(/^EV_/);
  });
});
