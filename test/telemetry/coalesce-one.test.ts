import { Timestamp } from '@bufbuild/protobuf';
import { AnalyticsStat, AnalyticsStream, AnalyticsVideoLayer } from '@livekit/protocol';
import { expect } from 'chai';
import { coalesce, coalesceOneJson } from '../../lib/telemetry/coalesce';

/** The flush's fast path for a track's only stat gives exactly what coalesce() gives. */
describe('coalesceOneJson: the one-stat fast path equals coalesce()', () => {
  let seed = 12345;
  const rand = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32; };
  const int = (max: number) => Math.floor(rand() * max);
  const maybe = <T>(v: T): T | undefined => (rand() < 0.3 ? undefined : v);

  function randomStat(): AnalyticsStat {
    const streams = Array.from({ length: rand() < 0.85 ? 1 : int(3) }, () => new AnalyticsStream({
      ssrc: int(1e6), primaryPackets: maybe(int(1e5)), primaryBytes: maybe(BigInt(int(1e9))),
      retransmitPackets: maybe(int(100)), retransmitBytes: maybe(BigInt(int(1e5))), paddingPackets: maybe(int(100)),
      paddingBytes: maybe(BigInt(int(1e4))), packetsLost: maybe(rand() < 0.05 ? 2 ** 31 + 5 : int(50)), frames: maybe(int(1000)),
      rtt: maybe(int(300)), jitter: maybe(int(50)), nacks: maybe(int(9)), plis: maybe(int(3)), firs: maybe(int(2)),
      packetsOutOfOrder: maybe(int(5)),
      startTime: maybe(Timestamp.fromDate(new Date(1_700_000_000_000 + int(1e9)))),
      endTime: maybe(new Timestamp({ seconds: BigInt(1_700_000_000 + int(1e6)), nanos: int(1e9) })),
      videoLayers: Array.from({ length: rand() < 0.6 ? int(2) : int(4) }, () => new AnalyticsVideoLayer({ layer: int(3), packets: int(1e4), bytes: BigInt(int(1e7)), frames: int(300) })),
    }));
    return new AnalyticsStat({ score: rand() < 0.2 ? 0 : 1 + rand() * 4, mime: maybe('video/VP8'), streams, roomId: 'RM_x', id: 'AS_old' });
  }

  it('on 5,000 random stats, where it applies it matches, and it applies to the plain case', () => {
    let applied = 0;
    for (let i = 0; i < 5000; i++) {
      const stat = randomStat();
      const json = JSON.parse(stat.toJsonString());
      const fast = coalesceOneJson(json);
      const slow = coalesce([AnalyticsStat.fromJsonString(stat.toJsonString())])!.toJson();
      if (fast === undefined) continue;
      applied++;
      expect(JSON.parse(JSON.stringify(fast)), `stat ${i}: ${stat.toJsonString()}`).to.deep.equal(JSON.parse(JSON.stringify(slow)));
    }
    expect(applied).to.be.greaterThan(2000);
  });

  it('declines several streams, several layers and invalid counters', () => {
    const two = new AnalyticsStat({ streams: [new AnalyticsStream(), new AnalyticsStream()] });
    const layers = new AnalyticsStat({ streams: [new AnalyticsStream({ videoLayers: [new AnalyticsVideoLayer({ layer: 1 }), new AnalyticsVideoLayer({ layer: 2 })] })] });
    const invalid = new AnalyticsStat({ streams: [new AnalyticsStream({ nacks: 2 ** 31 })] });
    for (const s of [two, layers, invalid]) expect(coalesceOneJson(JSON.parse(s.toJsonString()))).to.equal(undefined);
  });
});
