import {
  AnalyticsClientMeta, AnalyticsEventType as E, ClientInfo, ParticipantInfo, Room, TrackInfo, TrackType, VideoLayer, VideoQuality,
} from '@livekit/protocol';
import { expect } from 'chai';
import { ids } from '../support/fixture';
import { useTelemetry } from '../support/telemetry';

/**
 * LiveKit's pkg/telemetry/events_test.go, scenario by scenario, against the Redis-backed
 * service. Go's 500 ms sleeps (and its require.Eventually) waited for the service's op
 * queue; every call here resolves once its effects are stored, so assertions follow the
 * awaited call directly. Go's `SendEventCallCount` / `SendEventArgsForCall(i)` are
 * `t.analytics.events.length` / `t.analytics.events[i]`. The Go fixture has no notifier,
 * so these tests, like Go's, say nothing about webhooks. Room and participant ids are Go's
 * names with a tag unique to the test (test/support/fixture.ts): one Redis serves the file.
 */
describe('ported from LiveKit events_test.go', () => {
  const t = useTelemetry();
  let room: Room;
  let partSID: string;
  let node: string;
  beforeEach(() => {
    room = new Room({ sid: ids.of('RoomSid_'), name: ids.of('RoomName_') });
    partSID = ids.of('part1_');
    node = ids.node();
  });
  const clientInfo = () => new ClientInfo({ sdk: 2, version: 'v1', os: 'mac', osVersion: 'v1', deviceModel: 'DM1', browser: 'chrome', browserVersion: '97.0.1' });

  // from events_test.go: Test_OnParticipantJoin_EventIsSent
  it('Test_OnParticipantJoin_EventIsSent', async () => {
    const info = clientInfo();
    const clientMeta = new AnalyticsClientMeta({ region: 'dark-side', node: 'moon', clientAddr: '127.0.0.1', clientConnectTime: 420 });
    const participantInfo = new ParticipantInfo({ sid: partSID });
    await t.service.participantJoined({ room, participant: participantInfo, clientInfo: info, clientMeta, shouldSendEvent: true, guard: 'guard', nodeId: node });

    expect(t.analytics.events).to.have.length(1);
    const [event] = t.analytics.events;
    expect(event.type).to.equal(E.PARTICIPANT_JOINED);
    expect(event.participantId).to.equal(partSID);
    expect(event.participant?.equals(participantInfo), 'event.Participant').to.equal(true);
    expect(event.roomId).to.equal(room.sid);
    expect(event.room?.equals(room), 'event.Room').to.equal(true);

    expect(event.clientInfo?.sdk).to.equal(info.sdk);
    expect(event.clientInfo?.version).to.equal(info.version);
    expect(event.clientInfo?.os).to.equal(info.os);
    expect(event.clientInfo?.osVersion).to.equal(info.osVersion);
    expect(event.clientInfo?.deviceModel).to.equal(info.deviceModel);
    expect(event.clientInfo?.browser).to.equal(info.browser);
    expect(event.clientInfo?.browserVersion).to.equal(info.browserVersion);

    expect(event.clientMeta?.region).to.equal(clientMeta.region);
    expect(event.clientMeta?.node).to.equal(clientMeta.node);
    expect(event.clientMeta?.clientAddr).to.equal(clientMeta.clientAddr);
    expect(event.clientMeta?.clientConnectTime).to.equal(clientMeta.clientConnectTime);
  });

  // from events_test.go: Test_OnParticipantLeft_EventIsSent
  it('Test_OnParticipantLeft_EventIsSent', async () => {
    const participantInfo = new ParticipantInfo({ sid: partSID });
    await t.service.participantActive({ room, participant: participantInfo, clientMeta: new AnalyticsClientMeta(), isMigration: false, isWarp: false, guard: 'guard', nodeId: node });
    await t.service.participantLeft({ room, participant: participantInfo, shouldSendEvent: true, guard: 'guard' });

    expect(t.analytics.events).to.have.length(2);
    const event = t.analytics.events[1];
    expect(event.type).to.equal(E.PARTICIPANT_LEFT);
    expect(event.participantId).to.equal(partSID);
    expect(event.roomId).to.equal(room.sid);
    expect(event.room?.equals(room), 'event.Room').to.equal(true);
  });

  // from events_test.go: Test_OnTrackUpdate_EventIsSent
  it('Test_OnTrackUpdate_EventIsSent', async () => {
    const roomID = ids.of('room1_');
    const partID = partSID;
    const trackID = 'track1';
    const layer = new VideoLayer({ quality: VideoQuality.HIGH, width: 360, height: 720, bitrate: 2048 });
    const trackInfo = new TrackInfo({ sid: trackID, type: TrackType.VIDEO, muted: false, simulcast: false, disableDtx: false, layers: [layer] });
    await t.service.trackPublishedUpdate({ room: new Room({ sid: roomID, name: room.name }), participantId: partID, track: trackInfo });

    expect(t.analytics.events).to.have.length(1);
    const [event] = t.analytics.events;
    expect(event.type).to.equal(E.TRACK_PUBLISHED_UPDATE);
    expect(event.participantId).to.equal(partID);
    expect(event.track?.sid).to.equal(trackID);
    expect(event.track?.layers).to.not.equal(undefined);
    expect(event.track!.layers[0].width).to.equal(layer.width);
    expect(event.track!.layers[0].height).to.equal(layer.height);
    expect(event.track!.layers[0].quality).to.equal(layer.quality);
  });

  // from events_test.go: Test_OnParticipantActive_EventIsSent
  it('Test_OnParticipantActive_EventIsSent', async () => {
    const participantInfo = new ParticipantInfo({ sid: partSID });
    const clientMeta = new AnalyticsClientMeta({ region: 'dark-side', node: 'moon', clientAddr: '127.0.0.1' });
    await t.service.participantJoined({ room, participant: participantInfo, clientInfo: clientInfo(), clientMeta, shouldSendEvent: true, guard: 'guard', nodeId: node });

    expect(t.analytics.events).to.have.length(1);
    const [event] = t.analytics.events;

    const clientMetaConnect = new AnalyticsClientMeta({ clientConnectTime: 420 });
    await t.service.participantActive({ room, participant: participantInfo, clientMeta: clientMetaConnect, isMigration: false, isWarp: false, guard: 'guard', nodeId: node });

    expect(t.analytics.events).to.have.length(2);
    const eventActive = t.analytics.events[1];
    expect(eventActive.type).to.equal(E.PARTICIPANT_ACTIVE);
    expect(eventActive.participantId).to.equal(partSID);
    expect(eventActive.roomId).to.equal(room.sid);
    expect(event.room?.equals(room), 'event.Room').to.equal(true);
    expect(eventActive.clientMeta?.clientConnectTime).to.equal(clientMetaConnect.clientConnectTime);
  });

  // from events_test.go: Test_OnTrackSubscribed_EventIsSent
  it('Test_OnTrackSubscribed_EventIsSent', async () => {
    const publisherInfo = new ParticipantInfo({ sid: ids.of('pub1_'), identity: 'publisher' });
    const trackInfo = new TrackInfo({ sid: 'tr1', type: TrackType.VIDEO });
    const clientMeta = new AnalyticsClientMeta({ region: 'dark-side', node: 'moon', clientAddr: '127.0.0.1' });
    const participantInfo = new ParticipantInfo({ sid: partSID });
    await t.service.participantJoined({ room, participant: participantInfo, clientInfo: clientInfo(), clientMeta, shouldSendEvent: true, guard: 'guard', nodeId: node });

    expect(t.analytics.events).to.have.length(1);
    expect(t.analytics.events[0].room?.equals(room), 'event.Room').to.equal(true);

    await t.service.trackSubscribed({ room, participantId: partSID, track: trackInfo, publisher: publisherInfo, shouldSendEvent: true });

    // Go's require.Eventually: the call above has resolved, so it is already true
    expect(t.analytics.events, 'expected send event to be called twice').to.have.length(2);
    const eventTrackSubscribed = t.analytics.events[1];
    expect(eventTrackSubscribed.type).to.equal(E.TRACK_SUBSCRIBED);
    expect(eventTrackSubscribed.participantId).to.equal(partSID);
    expect(eventTrackSubscribed.track?.sid).to.equal(trackInfo.sid);
    expect(eventTrackSubscribed.track?.type).to.equal(trackInfo.type);
    expect(eventTrackSubscribed.publisher?.sid).to.equal(publisherInfo.sid);
    expect(eventTrackSubscribed.publisher?.identity).to.equal(publisherInfo.identity);
  });
});
