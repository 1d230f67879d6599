import {
  AnalyticsClientMeta, AnalyticsEventType as E, ClientInfo, ParticipantInfo, Room, TrackInfo, TrackType, VideoLayer, VideoQuality,
} from '@livekit/protocol';
import { expect } from 'chai';
import { WorkerRegistry } from '../../lib/registry/registry';
import { usePrivateRedis } from '../support/redis';
import { useTelemetry } from '../support/telemetry';

/**
 * LiveKit's pkg/telemetry/events_test.go and statsworker_test.go, scenario by scenario,
 * against the Redis-backed service and registry. Go's 500 ms sleeps waited for its op
 * queue; every call here resolves once its effects are stored.
 */
describe('ported from LiveKit events_test.go', () => {
  const t = useTelemetry();
  let n = 0;
  let room: Room;
  let partSID: string;
  beforeEach(() => {
    t.reset();
    n++;
    room = new Room({ sid: `RoomSid${n}`, name: 'RoomName' });
    partSID = `part1_${n}`;
  });
  const clientInfo = () => new ClientInfo({ sdk: 2, version: 'v1', os: 'mac', osVersion: 'v1', deviceModel: 'DM1', browser: 'chrome', browserVersion: '97.0.1' });

  it('Test_OnParticipantJoin_EventIsSent', async () => {
    const info = clientInfo();
    const clientMeta = new AnalyticsClientMeta({ region: 'dark-side', node: 'moon', clientAddr: '127.0.0.1', clientConnectTime: 420 });
    const participantInfo = new ParticipantInfo({ sid: partSID });
    await t.service.participantJoined({ room, participant: participantInfo, clientInfo: info, clientMeta, shouldSendEvent: true, guard: 'guard', nodeId: 'sfu-a' });
    expect(t.analytics.events).to.have.length(1);
    const [event] = t.analytics.events;
    expect(event.type).to.equal(E.PARTICIPANT_JOINED);
    expect(event.participantId).to.equal(partSID);
    expect(event.participant?.equals(participantInfo)).to.equal(true);
    expect(event.roomId).to.equal(room.sid);
    expect(event.room?.equals(room)).to.equal(true);
    expect(event.clientInfo?.toJson()).to.deep.equal(info.toJson());
    expect(event.clientMeta).to.deep.include({ region: 'dark-side', node: 'moon', clientAddr: '127.0.0.1', clientConnectTime: 420 });
  });

  it('Test_OnParticipantLeft_EventIsSent', async () => {
    const participantInfo = new ParticipantInfo({ sid: partSID });
    await t.service.participantActive({ room, participant: participantInfo, clientMeta: new AnalyticsClientMeta(), isMigration: false, isWarp: false, guard: 'guard', nodeId: 'sfu-a' });
    await t.service.participantLeft({ room, participant: participantInfo, shouldSendEvent: true, guard: 'guard' });
    expect(t.analytics.events).to.have.length(2);
    const event = t.analytics.events[1];
    expect(event.type).to.equal(E.PARTICIPANT_LEFT);
    expect(event.participantId).to.equal(partSID);
    expect(event.roomId).to.equal(room.sid);
    expect(event.room?.equals(room)).to.equal(true);
  });

  it('Test_OnTrackUpdate_EventIsSent', async () => {
    const layer = new VideoLayer({ quality: VideoQuality.HIGH, width: 360, height: 720, bitrate: 2048 });
    const trackInfo = new TrackInfo({ sid: 'track1', type: TrackType.VIDEO, muted: false, simulcast: false, disableDtx: false, layers: [layer] });
    await t.service.trackPublishedUpdate({ room: new Room({ sid: 'room1', name: 'RoomName' }), participantId: 'part1', track: trackInfo });
    expect(t.analytics.events).to.have.length(1);
    const [event] = t.analytics.events;
    expect(event.type).to.equal(E.TRACK_PUBLISHED_UPDATE);
    expect(event.participantId).to.equal('part1');
    expect(event.track?.sid).to.equal('track1');
    expect(event.track?.layers).to.have.length(1);
    expect(event.track!.layers[0]).to.deep.include({ width: 360, height: 720, quality: VideoQuality.HIGH });
  });

  it('Test_OnParticipantActive_EventIsSent', async () => {
    const participantInfo = new ParticipantInfo({ sid: partSID });
    const clientMeta = new AnalyticsClientMeta({ region: 'dark-side', node: 'moon', clientAddr: '127.0.0.1' });
    await t.service.participantJoined({ room, participant: participantInfo, clientInfo: clientInfo(), clientMeta, shouldSendEvent: true, guard: 'guard', nodeId: 'sfu-a' });
    expect(t.analytics.events).to.have.length(1);
    const [event] = t.analytics.events;
    const clientMetaConnect = new AnalyticsClientMeta({ clientConnectTime: 420 });
    await t.service.participantActive({ room, participant: participantInfo, clientMeta: clientMetaConnect, isMigration: false, isWarp: false, guard: 'guard', nodeId: 'sfu-a' });
    expect(t.analytics.events).to.have.length(2);
    const eventActive = t.analytics.events[1];
    expect(eventActive.type).to.equal(E.PARTICIPANT_ACTIVE);
    expect(eventActive.participantId).to.equal(partSID);
    expect(eventActive.roomId).to.equal(room.sid);
    expect(event.room?.equals(room)).to.equal(true);
    expect(eventActive.clientMeta?.clientConnectTime).to.equal(420);
  });

  it('Test_OnTrackSubscribed_EventIsSent', async () => {
    const publisherInfo = new ParticipantInfo({ sid: 'pub1', identity: 'publisher' });
    const trackInfo = new TrackInfo({ sid: 'tr1', type: TrackType.VIDEO });
    const clientMeta = new AnalyticsClientMeta({ region: 'dark-side', node: 'moon', clientAddr: '127.0.0.1' });
    await t.service.participantJoined({ room, participant: new ParticipantInfo({ sid: partSID }), clientInfo: clientInfo(), clientMeta, shouldSendEvent: true, guard: 'guard', nodeId: 'sfu-a' });
    expect(t.analytics.events).to.have.length(1);
    expect(t.analytics.events[0].room?.equals(room)).to.equal(true);
    await t.service.trackSubscribed({ room, participantId: partSID, track: trackInfo, publisher: publisherInfo, shouldSendEvent: true });
    expect(t.analytics.events).to.have.length(2);
    const ev = t.analytics.events[1];
    expect(ev.type).to.equal(E.TRACK_SUBSCRIBED);
    expect(ev.participantId).to.equal(partSID);
    expect(ev.track?.sid).to.equal('tr1');
    expect(ev.track?.type).to.equal(TrackType.VIDEO);
    expect(ev.publisher?.sid).to.equal('pub1');
    expect(ev.publisher?.identity).to.equal('publisher');
  });
});

describe('ported from LiveKit statsworker_test.go', () => {
  const redis = usePrivateRedis();

  // TestStatsWorker / "reference counted close works": g0 holds the worker, g1 joins
  // (Closed(g1) is false and activates it), releasing g0 does not close, releasing g1 does
  it('TestStatsWorker: reference counted close works', async () => {
    const reg = new WorkerRegistry(redis.client(), { prefix: 'tc', shards: 2 });
    const ref = { roomId: 'RM', participantId: 'PA', roomName: '', identity: '' };
    await reg.open({ ...ref, guard: 'g0', nodeId: 'sfu' });
    expect((await reg.open({ ...ref, guard: 'g1', nodeId: 'sfu' })).outcome).to.equal('open'); // require.False(w.Closed(&g1))
    expect((await reg.release({ ...ref, guard: 'g0' })).closed).to.equal(false); // require.False(w.Close(&g0))
    expect((await reg.get(ref))!.closedAt).to.equal(null); // require.False(w.Closed(&g1))
    expect((await reg.release({ ...ref, guard: 'g1' })).closed).to.equal(true); // require.True(w.Close(&g1))
    expect((await reg.get(ref))!.closedAt).to.be.a('number'); // require.True(w.Closed(&g1))
  });
});
