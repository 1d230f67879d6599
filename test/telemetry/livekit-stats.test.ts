import { AnalyticsStat, AnalyticsStream, ClientInfo, ParticipantInfo, Room, StreamType, TrackInfo } from '@livekit/protocol';
import { expect } from 'chai';
import type { StatsKey } from '../../lib/telemetry/types';
import { useTelemetry } from '../support/telemetry';

/**
 * LiveKit's pkg/telemetry/stats_test.go, scenario by scenario, against the Redis-backed
 * service. Go's `fixture.flush()` slept 500 ms for its op queue; ours awaits each call, so
 * flushStats() follows directly. `SendStatsCallCount` is the number of sendStats calls:
 * one participant's stats are one flush batch, so one call per flush, as in LiveKit.
 */
describe('ported from LiveKit stats_test.go', () => {
  const t = useTelemetry();
  let n = 0;
  let room: Room;
  let partSID: string;
  beforeEach(async () => {
    t.reset();
    n++;
    room = new Room({ sid: `RoomSid${n}`, name: `RoomName${n}` });
    partSID = `part1_${n}`;
    await t.service.participantJoined({
      room, participant: new ParticipantInfo({ sid: partSID }), clientInfo: new ClientInfo({ sdk: 2 }), shouldSendEvent: true, guard: 'guard', nodeId: 'sfu-a',
    });
  });

  // StatsKeyForData("test", streamType, partSID, trackID)
  const key = (streamType: 'UPSTREAM' | 'DOWNSTREAM', trackId: string): StatsKey => ({ streamType, participantId: partSID, trackId, country: 'test' });
  const stream = (f: Partial<AnalyticsStream>) => new AnalyticsStream(f);
  const track = (streamType: 'UPSTREAM' | 'DOWNSTREAM', trackId: string, ...streams: Partial<AnalyticsStream>[]) =>
    t.service.trackStats({ roomId: room.sid, roomName: room.name, key: key(streamType, trackId), stat: new AnalyticsStat({ streams: streams.map(stream) }) });
  const sent = (call: number) => t.analytics.stats[call];

  it('Test_ParticipantAndRoomDataAreSentWithAnalytics', async () => {
    await track('DOWNSTREAM', '', { primaryBytes: 33n });
    await t.service.flushStats();
    expect(t.analytics.stats).to.have.length(1);
    const stats = sent(0);
    expect(stats).to.have.length(1);
    expect(stats[0].kind).to.equal(StreamType.DOWNSTREAM);
    expect(stats[0].participantId).to.equal(partSID);
    expect(stats[0].roomId).to.equal(room.sid);
    expect(stats[0].roomName).to.equal(room.name);
  });

  it('Test_OnDownstreamPackets', async () => {
    await track('DOWNSTREAM', 'trackID', { primaryBytes: 33n, primaryPackets: 1 });
    await track('DOWNSTREAM', 'trackID', { primaryBytes: 23n, primaryPackets: 1 });
    await t.service.flushStats();
    expect(t.analytics.stats).to.have.length(1);
    const [s] = sent(0);
    expect(sent(0)).to.have.length(1);
    expect(s.kind).to.equal(StreamType.DOWNSTREAM);
    expect(Number(s.streams[0].primaryBytes)).to.equal(56);
    expect(s.streams[0].primaryPackets).to.equal(2);
    expect(s.trackId).to.equal('trackID');
  });

  it('Test_OnDownstreamPackets_SeveralTracks', async () => {
    await track('DOWNSTREAM', 'trackID1', { primaryBytes: 33n, primaryPackets: 1 });
    await track('DOWNSTREAM', 'trackID2', { primaryBytes: 23n, primaryPackets: 1 });
    await t.service.flushStats();
    expect(t.analytics.stats).to.have.length(1);
    const byTrack = new Map(sent(0).map((s) => [s.trackId, s]));
    expect(sent(0)).to.have.length(2);
    expect(Number(byTrack.get('trackID1')!.streams[0].primaryBytes)).to.equal(33);
    expect(byTrack.get('trackID1')!.streams[0].primaryPackets).to.equal(1);
    expect(Number(byTrack.get('trackID2')!.streams[0].primaryBytes)).to.equal(23);
    expect(byTrack.get('trackID2')!.streams[0].primaryPackets).to.equal(1);
  });

  it('Test_OnDownStreamStat', async () => {
    await track('DOWNSTREAM', 'trackID1', { primaryBytes: 1n, primaryPackets: 1, packetsLost: 3, nacks: 1, plis: 1, rtt: 23, jitter: 3 });
    await track('DOWNSTREAM', 'trackID1', { primaryBytes: 2n, primaryPackets: 2, packetsLost: 4, nacks: 1, plis: 1, firs: 1, rtt: 10, jitter: 5 });
    await t.service.flushStats();
    expect(t.analytics.stats).to.have.length(1);
    const [s] = sent(0);
    expect(s.kind).to.equal(StreamType.DOWNSTREAM);
    expect(s.streams[0]).to.deep.include({ nacks: 2, plis: 2, firs: 1, rtt: 23, jitter: 5, packetsLost: 7 }); // max rtt, max jitter, summed losses
    expect(s.trackId).to.equal('trackID1');
  });

  it('Test_PacketLostDiffShouldBeSentToTelemetry', async () => {
    await track('DOWNSTREAM', 'trackID1', { primaryBytes: 1n, primaryPackets: 1, packetsLost: 1 });
    await t.service.flushStats();
    await track('DOWNSTREAM', 'trackID1', { primaryBytes: 2n, primaryPackets: 2, packetsLost: 4 });
    await t.service.flushStats();
    expect(t.analytics.stats).to.have.length(2); // 2 calls to FlushStats()
    expect(sent(0).map((s) => [s.kind, s.streams[0].packetsLost])).to.deep.equal([[StreamType.DOWNSTREAM, 1]]);
    expect(sent(1).map((s) => [s.kind, s.streams[0].packetsLost])).to.deep.equal([[StreamType.DOWNSTREAM, 4]]); // delta loss sent as is
  });

  it('Test_OnDownStreamRTCP_SeveralTracks', async () => {
    await track('DOWNSTREAM', 'trackID1', { primaryBytes: 1n, primaryPackets: 1 });
    await track('DOWNSTREAM', 'trackID1', { primaryBytes: 2n, primaryPackets: 2, nacks: 1 });
    await track('DOWNSTREAM', 'trackID2', { primaryBytes: 3n, primaryPackets: 3, firs: 1 });
    await t.service.flushStats();
    expect(t.analytics.stats).to.have.length(1);
    const byTrack = new Map(sent(0).map((s) => [s.trackId, s]));
    expect(sent(0)).to.have.length(2);
    expect(byTrack.get('trackID1')!.kind).to.equal(StreamType.DOWNSTREAM);
    expect(byTrack.get('trackID1')!.streams[0].nacks).to.equal(1);
    expect(byTrack.get('trackID2')!.kind).to.equal(StreamType.DOWNSTREAM);
    expect(byTrack.get('trackID2')!.streams[0].firs).to.equal(1);
  });

  it('Test_OnUpstreamStat', async () => {
    await track('UPSTREAM', 'trackID', { primaryBytes: 1n, primaryPackets: 1, packetsLost: 3, nacks: 1, plis: 1, firs: 1, rtt: 13, jitter: 5 });
    await track('UPSTREAM', 'trackID', { primaryBytes: 2n, primaryPackets: 2, packetsLost: 4, nacks: 1, plis: 1, firs: 1, rtt: 33, jitter: 2 });
    await t.service.flushStats();
    expect(t.analytics.stats).to.have.length(1);
    const [s] = sent(0);
    expect(s.kind).to.equal(StreamType.UPSTREAM);
    expect(s.streams[0]).to.deep.include({ nacks: 2, plis: 2, firs: 2, rtt: 33, jitter: 5, packetsLost: 7 });
    expect(s.trackId).to.equal('trackID');
  });

  it('Test_OnUpstreamRTCP_SeveralTracks', async () => {
    await track('UPSTREAM', 'trackID1', { primaryBytes: 1n, primaryPackets: 1 });
    await track('UPSTREAM', 'trackID2', { primaryBytes: 1n, primaryPackets: 1 });
    await track('UPSTREAM', 'trackID1', { primaryBytes: 2n, primaryPackets: 2, nacks: 1 });
    await track('UPSTREAM', 'trackID2', { primaryBytes: 2n, primaryPackets: 2, firs: 1 });
    await t.service.flushStats();
    expect(t.analytics.stats).to.have.length(1);
    const byTrack = new Map(sent(0).map((s) => [s.trackId, s]));
    expect(sent(0)).to.have.length(2);
    expect(byTrack.get('trackID1')!.streams[0].nacks).to.equal(1);
    expect(byTrack.get('trackID2')!.streams[0].firs).to.equal(1);
    for (const s of sent(0)) {
      expect(s.kind).to.equal(StreamType.UPSTREAM);
      expect(Number(s.streams[0].primaryBytes)).to.equal(3);
      expect(s.streams[0].primaryPackets).to.equal(3);
    }
    // remove 1 track: its stats were flushed above, so no more calls to SendStats
    await t.service.trackUnpublished({ room, participantId: partSID, identity: 'part1Identity', track: new TrackInfo({ sid: 'trackID2' }), wasPublishedLocally: true, shouldSendEvent: true });
    await t.service.flushStats();
    expect(t.analytics.stats).to.have.length(1);
  });

  it('Test_AnalyticsSentWhenParticipantLeaves', async () => {
    await t.service.participantLeft({ room, participant: new ParticipantInfo({ sid: partSID }), shouldSendEvent: true, guard: 'guard' });
    await t.service.flushStats();
    // not called if there are no track stats
    expect(t.analytics.stats).to.have.length(0);
  });

  it('Test_AddUpTrack', async () => {
    await track('UPSTREAM', 'trackID', { primaryBytes: 3n, primaryPackets: 3 });
    await t.service.flushStats();
    expect(t.analytics.stats).to.have.length(1);
    const [s] = sent(0);
    expect(s.kind).to.equal(StreamType.UPSTREAM);
    expect(s.streams[0].primaryBytes).to.equal(3n);
    expect(s.streams[0].primaryPackets).to.equal(3);
    expect(s.trackId).to.equal('trackID');
  });

  it('Test_AddUpTrack_SeveralBuffers_Simulcast', async () => {
    await track('UPSTREAM', 'trackID', { primaryBytes: 1n, primaryPackets: 1 }, { primaryBytes: 2n, primaryPackets: 2 });
    await t.service.flushStats();
    expect(t.analytics.stats).to.have.length(1);
    const [s] = sent(0);
    expect(s.kind).to.equal(StreamType.UPSTREAM);
    // one consolidated stream
    expect(s.streams).to.have.length(1);
    expect(s.streams[0].primaryBytes).to.equal(3n);
    expect(s.streams[0].primaryPackets).to.equal(3);
    expect(s.trackId).to.equal('trackID');
  });

  it('Test_BothDownstreamAndUpstreamStatsAreSentTogether', async () => {
    await track('UPSTREAM', 'trackID', { primaryBytes: 3n, primaryPackets: 3 });
    await track('DOWNSTREAM', 'trackID1', { primaryBytes: 1n, primaryPackets: 1 });
    await t.service.flushStats();
    expect(t.analytics.stats).to.have.length(1);
    expect(sent(0).map((s) => s.kind)).to.deep.equal([StreamType.UPSTREAM, StreamType.DOWNSTREAM]);
  });
});
