import { Timestamp } from '@bufbuild/protobuf';
import { AnalyticsStat, AnalyticsStream, AnalyticsVideoLayer } from '@livekit/protocol';
import { expect } from 'chai';
import { coalesce, isValidStat, median } from '../../lib/telemetry/coalesce';

/**
 * The rules of LiveKit's coalesce() (pkg/telemetry/statsworker.go), one by one. Expected
 * values are worked out from the Go code: float32 arithmetic for scores, uint32 / uint64
 * wrap-around for counters, time.Time comparisons for start and end.
 */
describe("coalesce: LiveKit's rules", () => {
  const f = Math.fround;
  const at = (seconds: number, nanos = 0) => new Timestamp({ seconds: BigInt(seconds), nanos });
  const stat = (score: number, streams: Partial<AnalyticsStream>[] = [{}], mime = '') =>
    new AnalyticsStat({ score, mime, streams: streams.map((s) => new AnalyticsStream(s)) });
  const scored = (...scores: number[]) => coalesce(scores.map((s) => stat(s)))!;
  const layer = (l: number, packets: number, frames = 1) => new AnalyticsVideoLayer({ layer: l, packets, bytes: BigInt(packets * 10), frames });
  const layersOf = (s: AnalyticsStat) => s.streams[0].videoLayers.map((l) => [l.layer, l.packets, l.bytes, l.frames]);
  const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

  describe('empty and invalid input', () => {
    it('nothing to coalesce gives nothing', () => {
      expect(coalesce([])).to.equal(undefined);
    });

    it('all stats invalid: still one stat (as in Go), one empty stream at Go\'s zero time, the last mime', () => {
      const out = coalesce([
        stat(3, [{ primaryPackets: 2 ** 31, startTime: at(10), endTime: at(20) }], 'audio/opus'),
        stat(4, [{ nacks: 2 ** 32 - 1 }], 'video/VP8'),
      ])!;
      expect(out).to.not.equal(undefined);
      expect([out.score, out.minScore, out.medianScore]).to.deep.equal([0, 0, 0]);
      expect(out.streams).to.have.length(1);
      const [s] = out.streams;
      expect([s.primaryPackets, s.nacks, s.primaryBytes, s.rtt, s.jitter]).to.deep.equal([0, 0, 0n, 0, 0]);
      expect(s.videoLayers).to.deep.equal([]);
      expect(s.startTime?.toJson()).to.equal(GO_ZERO_TIME);
      expect(s.endTime?.toJson()).to.equal(GO_ZERO_TIME);
      expect(out.mime).to.equal('video/VP8');
      expect(() => out.toJsonString()).to.not.throw();
    });

    it('stats with no streams: one empty stream at Go\'s zero time, scores still counted', () => {
      const out = coalesce([new AnalyticsStat({ score: 2 }), new AnalyticsStat({ score: 4 })])!;
      expect(out.streams).to.have.length(1);
      expect(out.streams[0].startTime?.toJson()).to.equal(GO_ZERO_TIME);
      expect(out.streams[0].endTime?.toJson()).to.equal(GO_ZERO_TIME);
      expect([out.score, out.minScore, out.medianScore]).to.deep.equal([3, 2, 3]);
    });

    it('isValidStat: a uint32 counter >= 2^31 or a uint64 counter >= 2^63 (negative in Go\'s casts) is invalid', () => {
      expect(isValidStat(stat(1))).to.equal(true);
      expect(isValidStat(new AnalyticsStat())).to.equal(true);
      const u32 = ['primaryPackets', 'retransmitPackets', 'paddingPackets', 'packetsLost', 'packetsOutOfOrder', 'frames', 'nacks', 'plis', 'firs'] as const;
      for (const k of u32) {
        expect(isValidStat(stat(1, [{ [k]: 2 ** 31 - 1 }])), `${k} = 2^31-1`).to.equal(true);
        expect(isValidStat(stat(1, [{ [k]: 2 ** 31 }])), `${k} = 2^31`).to.equal(false);
      }
      for (const k of ['primaryBytes', 'retransmitBytes', 'paddingBytes'] as const) {
        expect(isValidStat(stat(1, [{ [k]: 2n ** 63n - 1n }])), `${k} = 2^63-1`).to.equal(true);
        expect(isValidStat(stat(1, [{ [k]: 2n ** 63n }])), `${k} = 2^63`).to.equal(false);
      }
      // rtt and jitter are not checked by LiveKit
      expect(isValidStat(stat(1, [{ rtt: 2 ** 32 - 1, jitter: 2 ** 32 - 1 }]))).to.equal(true);
      // any stream of the stat, and any layer of a stream, invalidates it
      expect(isValidStat(stat(1, [{}, { firs: 2 ** 31 }]))).to.equal(false);
      const badLayer = (l: Partial<AnalyticsVideoLayer>) => stat(1, [{ videoLayers: [new AnalyticsVideoLayer(), new AnalyticsVideoLayer(l)] }]);
      expect(isValidStat(badLayer({ packets: 2 ** 31 }))).to.equal(false);
      expect(isValidStat(badLayer({ frames: 2 ** 31 }))).to.equal(false);
      expect(isValidStat(badLayer({ bytes: 2n ** 63n }))).to.equal(false);
      expect(isValidStat(badLayer({ packets: 2 ** 31 - 1, frames: 2 ** 31 - 1, bytes: 2n ** 63n - 1n, layer: -5 }))).to.equal(true);
    });

    it('skips an invalid stat entirely: its score, counters, times and layers', () => {
      const bad = stat(1, [{ primaryBytes: 2n ** 63n, nacks: 7, rtt: 999, startTime: at(1), endTime: at(99), videoLayers: [layer(5, 1)] }]);
      const out = coalesce([
        stat(3, [{ primaryBytes: 1n, startTime: at(10), endTime: at(20), videoLayers: [layer(0, 2)] }], 'video/VP8'),
        bad,
        stat(5, [{ primaryBytes: 2n, startTime: at(11), endTime: at(21) }], 'video/H264'),
      ])!;
      const [s] = out.streams;
      expect([s.primaryBytes, s.nacks, s.rtt]).to.deep.equal([3n, 0, 0]);
      expect([s.startTime?.seconds, s.endTime?.seconds]).to.deep.equal([10n, 21n]);
      expect(layersOf(out)).to.deep.equal([[0, 2, 20n, 1]]);
      expect([out.score, out.minScore, out.medianScore]).to.deep.equal([4, 3, 4]);
      expect(out.mime).to.equal('video/H264');
    });
  });

  describe('scores', () => {
    it('zero scores are ignored by the average, the min and the median', () => {
      const out = scored(0, 2, 0, 4, 3, 0);
      expect(out.score).to.equal(3);
      expect(out.minScore).to.equal(2);
      expect(out.medianScore).to.equal(3);
    });

    it('only zero scores: score, min and median all 0', () => {
      expect([scored(0, 0).score, scored(0, 0).minScore, scored(0, 0).medianScore]).to.deep.equal([0, 0, 0]);
    });

    it('a negative score is not counted either (only scores > 0 are)', () => {
      const out = scored(-1, 2);
      expect([out.score, out.minScore, out.medianScore]).to.deep.equal([2, 2, 2]);
    });

    it('the average is a float32 sum divided in float32, as Go computes it', () => {
      const out = scored(0.1, 0.2, 0.4);
      const expected = f(f(f(f(0.1) + f(0.2)) + f(0.4)) / 3);
      expect(out.score).to.equal(expected);
      expect(f(out.score)).to.equal(out.score);
      // a float64 average would differ here, which is why the port rounds each step
      expect(out.score).to.not.equal((0.1 + 0.2 + 0.4) / 3);
    });

    it('a score arriving with float64 precision is read as the float32 Go would have parsed', () => {
      const out = scored(4.1);
      expect([out.score, out.minScore, out.medianScore]).to.deep.equal([f(4.1), f(4.1), f(4.1)]);
      // one float32 step below the input: not > 0 in Go, so not a score at all
      expect(scored(1e-46).minScore).to.equal(0);
    });

    it('min is the smallest non-zero score wherever it comes', () => {
      expect(scored(4, 1.5, 3).minScore).to.equal(1.5);
      expect(scored(1.5, 4, 3).minScore).to.equal(1.5);
      expect(scored(4, 3, 1.5).minScore).to.equal(1.5);
    });

    it('median: the middle value of an odd count, unsorted input', () => {
      expect(scored(5, 1, 4, 2, 3).medianScore).to.equal(3);
    });

    it('median: the float32 mean of the two middle values of an even count', () => {
      expect(scored(4, 1, 3, 2).medianScore).to.equal(2.5);
      expect(scored(0.1, 0.7).medianScore).to.equal(f(f(f(0.1) + f(0.7)) / 2));
    });

    it('median() itself: empty is 0, one value is itself, sorting does not touch the input', () => {
      expect(median([])).to.equal(0);
      expect(median([7])).to.equal(7);
      const input = [3, 1, 2];
      expect(median(input)).to.equal(2);
      expect(input).to.deep.equal([3, 1, 2]);
    });
  });

  describe('stream times, rtt and jitter', () => {
    it('earliest start and latest end across stats and across the streams of a stat', () => {
      const out = coalesce([
        stat(1, [{ startTime: at(20), endTime: at(30) }, { startTime: at(15), endTime: at(28) }]),
        stat(1, [{ startTime: at(17), endTime: at(35) }]),
        stat(1, [{ startTime: at(25), endTime: at(33) }]),
      ])!;
      const [s] = out.streams;
      expect([s.startTime?.seconds, s.endTime?.seconds]).to.deep.equal([15n, 35n]);
    });

    it('compares nanoseconds within the same second', () => {
      const out = coalesce([
        stat(1, [{ startTime: at(10, 500), endTime: at(20, 100) }]),
        stat(1, [{ startTime: at(10, 400), endTime: at(20, 200) }]),
      ])!;
      const [s] = out.streams;
      expect([s.startTime?.nanos, s.endTime?.nanos]).to.deep.equal([400, 200]);
    });

    it('a stream without a start time reads as the Unix epoch (Go\'s AsTime of nil) and so is the earliest', () => {
      const out = coalesce([
        stat(1, [{ startTime: at(10), endTime: at(20) }]),
        stat(1, [{ endTime: at(25) }]),
      ])!;
      const [s] = out.streams;
      expect(s.startTime?.toJson()).to.equal('1970-01-01T00:00:00Z');
      expect(s.endTime?.seconds).to.equal(25n);
    });

    it('a stream without an end time does not win over a real end', () => {
      const out = coalesce([stat(1, [{ startTime: at(10) }]), stat(1, [{ startTime: at(12), endTime: at(20) }])])!;
      expect(out.streams[0].endTime?.seconds).to.equal(20n);
    });

    it('out-of-range nanos carry into seconds, as time.Unix does', () => {
      const out = coalesce([stat(1, [{ startTime: at(10, 1_500_000_000), endTime: at(10, 2_000_000_001) }])])!;
      const [s] = out.streams;
      expect([s.startTime?.seconds, s.startTime?.nanos]).to.deep.equal([11n, 500_000_000]);
      expect([s.endTime?.seconds, s.endTime?.nanos]).to.deep.equal([12n, 1]);
    });

    it('max rtt and max jitter, each on its own', () => {
      const out = coalesce([
        stat(1, [{ rtt: 5, jitter: 9 }, { rtt: 12, jitter: 1 }]),
        stat(1, [{ rtt: 8, jitter: 2 }]),
      ])!;
      expect([out.streams[0].rtt, out.streams[0].jitter]).to.deep.equal([12, 9]);
    });
  });

  describe('counters', () => {
    const counters = {
      primaryPackets: 1, primaryBytes: 2n, retransmitPackets: 3, retransmitBytes: 4n, paddingPackets: 5, paddingBytes: 6n,
      packetsLost: 7, packetsOutOfOrder: 8, frames: 9, nacks: 10, plis: 11, firs: 12,
    };

    it('sums every counter LiveKit sums, across stats and across the streams of one stat (simulcast)', () => {
      const out = coalesce([stat(1, [counters, counters]), stat(1, [counters])])!;
      const [s] = out.streams;
      for (const [k, v] of Object.entries(counters)) {
        expect(s[k as keyof typeof counters], k).to.equal(typeof v === 'bigint' ? v * 3n : v * 3);
      }
    });

    it('leaves what Go does not aggregate at zero (ssrc)', () => {
      const out = coalesce([stat(1, [{ ssrc: 1234, primaryPackets: 1 }])])!;
      expect(out.streams[0].ssrc).to.equal(0);
    });

    it('uint32 sums wrap at 2^32 and uint64 sums at 2^64, like Go', () => {
      const big = { primaryPackets: 2 ** 31 - 1, nacks: 2 ** 31 - 1, primaryBytes: 2n ** 63n - 1n, paddingBytes: 2n ** 63n - 1n };
      const out = coalesce([stat(1, [big]), stat(1, [big]), stat(1, [{ primaryPackets: 3, nacks: 2, primaryBytes: 5n, paddingBytes: 2n }])])!;
      const [s] = out.streams;
      expect([s.primaryPackets, s.nacks]).to.deep.equal([1, 0]);
      expect([s.primaryBytes, s.paddingBytes]).to.deep.equal([3n, 0n]);
    });
  });

  describe('video layers', () => {
    it('no layers anywhere: none out', () => {
      expect(coalesce([stat(1, [{ primaryPackets: 1 }])])!.streams[0].videoLayers).to.deep.equal([]);
    });

    it('a single layer is kept with every field, and the input is not changed', () => {
      const only = layer(1, 4, 3);
      const input = stat(1, [{ videoLayers: [only] }]);
      const out = coalesce([input])!;
      expect(layersOf(out)).to.deep.equal([[1, 4, 40n, 3]]);
      expect(out.streams[0].videoLayers[0]).to.not.equal(only);
    });

    it('the same layer across stats is summed (packets, bytes, frames) and input layers are not mutated', () => {
      const first = layer(1, 4, 3);
      const out = coalesce([stat(1, [{ videoLayers: [first] }]), stat(1, [{ videoLayers: [layer(1, 6, 2)] }])])!;
      expect(layersOf(out)).to.deep.equal([[1, 10, 100n, 5]]);
      expect([first.packets, first.bytes, first.frames]).to.deep.equal([4, 40n, 3]);
    });

    it('several layers: summed per layer, then only the highest layer is kept', () => {
      const out = coalesce([
        stat(1, [{ videoLayers: [layer(0, 1), layer(2, 5)] }]),
        stat(1, [{ videoLayers: [layer(2, 7), layer(1, 3)] }]),
      ])!;
      expect(layersOf(out)).to.deep.equal([[2, 12, 120n, 2]]);
    });

    it('layers of different streams of one stat are merged too', () => {
      const out = coalesce([stat(1, [{ videoLayers: [layer(0, 1)] }, { videoLayers: [layer(1, 2)] }, { videoLayers: [layer(1, 3)] }])])!;
      expect(layersOf(out)).to.deep.equal([[1, 5, 50n, 2]]);
    });

    it('the highest layer is kept even when it is seen only once and last', () => {
      const out = coalesce([stat(1, [{ videoLayers: [layer(0, 9)] }]), stat(1, [{ videoLayers: [layer(0, 9)] }]), stat(1, [{ videoLayers: [layer(3, 1)] }])])!;
      expect(layersOf(out)).to.deep.equal([[3, 1, 10n, 1]]);
    });

    it('layer counters wrap like the stream counters', () => {
      const big = new AnalyticsVideoLayer({ layer: 0, packets: 2 ** 31 - 1, bytes: 2n ** 63n - 1n, frames: 2 ** 31 - 1 });
      const out = coalesce([stat(1, [{ videoLayers: [big] }]), stat(1, [{ videoLayers: [big.clone()] }]), stat(1, [{ videoLayers: [new AnalyticsVideoLayer({ layer: 0, packets: 2, bytes: 2n, frames: 3 })] }])])!;
      expect(layersOf(out)).to.deep.equal([[0, 0, 0n, 1]]);
    });
  });

  describe('mime and the rest of the stat', () => {
    it('takes the mime of the last stat, even an empty one', () => {
      expect(coalesce([stat(1, [{}], 'video/VP8'), stat(1, [{}], 'video/H264')])!.mime).to.equal('video/H264');
      expect(coalesce([stat(1, [{}], 'video/VP8'), stat(1, [{}], '')])!.mime).to.equal('');
    });

    it('takes the mime of the last stat even when that stat is invalid', () => {
      expect(coalesce([stat(1, [{}], 'video/VP8'), stat(1, [{ plis: 2 ** 31 }], 'video/AV1')])!.mime).to.equal('video/AV1');
    });

    it('leaves ids, kind, time stamp, room and track to the caller, and has exactly one stream', () => {
      const input = new AnalyticsStat({ id: 'AS_x', trackId: 'TR_x', roomId: 'RM_x', participantId: 'PA_x', roomName: 'r', node: 'n', analyticsKey: 'k', kind: 1, timeStamp: at(5), streams: [new AnalyticsStream(), new AnalyticsStream()] });
      const out = coalesce([input])!;
      expect([out.id, out.trackId, out.roomId, out.participantId, out.roomName, out.node, out.analyticsKey, out.kind, out.timeStamp])
        .to.deep.equal(['', '', '', '', '', '', '', 0, undefined]);
      expect(out.streams).to.have.length(1);
    });
  });
});
