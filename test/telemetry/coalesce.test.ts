import { Timestamp } from '@bufbuild/protobuf';
import { AnalyticsStat, AnalyticsStream, AnalyticsVideoLayer } from '@livekit/protocol';
import { expect } from 'chai';
import { coalesce, isValidStat, median } from '../../lib/telemetry/coalesce';

/** The rules of LiveKit's coalesce() (statsworker.go), one by one. */
describe("coalesce: LiveKit's rules", () => {
  const at = (s: number) => new Timestamp({ seconds: BigInt(s) });
  const stat = (score: number, s: Partial<AnalyticsStream>, mime = '') => new AnalyticsStat({ score, mime, streams: [new AnalyticsStream(s)] });

  it('nothing to coalesce gives nothing', () => {
    expect(coalesce([])).to.equal(undefined);
  });

  it('averages, minimises and takes the median of non-zero scores only', () => {
    const out = coalesce([stat(0, {}), stat(2, {}), stat(4, {}), stat(3, {})])!;
    expect(out.score).to.equal(Math.fround(Math.fround(Math.fround(2 + 4) + 3) / 3));
    expect(out.minScore).to.equal(2);
    expect(out.medianScore).to.equal(3);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
    expect(coalesce([stat(0, {})])!.score).to.equal(0);
  });

  it('keeps the earliest start and the latest end, the max rtt and jitter, and sums counters', () => {
    const out = coalesce([
      stat(1, { startTime: at(20), endTime: at(30), rtt: 5, jitter: 9, primaryBytes: 10n, nacks: 1, frames: 3 }),
      stat(1, { startTime: at(10), endTime: at(25), rtt: 8, jitter: 2, primaryBytes: 5n, nacks: 2, frames: 4 }),
    ])!;
    const [s] = out.streams;
    expect(s.startTime?.seconds).to.equal(10n);
    expect(s.endTime?.seconds).to.equal(30n);
    expect([s.rtt, s.jitter, s.primaryBytes, s.nacks, s.frames]).to.deep.equal([8, 9, 15n, 3, 7]);
  });

  it('sums video layers per layer and keeps only the highest', () => {
    const layer = (l: number, packets: number) => new AnalyticsVideoLayer({ layer: l, packets, bytes: BigInt(packets * 10), frames: 1 });
    const out = coalesce([
      stat(1, { videoLayers: [layer(0, 1), layer(2, 5)] }),
      stat(1, { videoLayers: [layer(2, 7), layer(1, 3)] }),
    ])!;
    expect(out.streams[0].videoLayers.map((l) => [l.layer, l.packets, Number(l.bytes), l.frames])).to.deep.equal([[2, 12, 120, 2]]);
  });

  it('skips invalid stats (counters that were negative before going unsigned) and takes the last mime', () => {
    const bad = stat(5, { primaryBytes: 2n ** 63n });
    expect(isValidStat(bad)).to.equal(false);
    expect(isValidStat(stat(1, { nacks: 2 ** 31 }))).to.equal(false);
    const out = coalesce([stat(1, { primaryBytes: 1n }, 'video/VP8'), bad, stat(1, { primaryBytes: 2n }, 'video/H264')])!;
    expect(out.streams[0].primaryBytes).to.equal(3n);
    expect(out.minScore).to.equal(1);
    expect(out.mime).to.equal('video/H264');
  });
});
