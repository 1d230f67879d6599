import { Timestamp } from '@bufbuild/protobuf';
import { AnalyticsStat, AnalyticsStream, AnalyticsVideoLayer } from '@livekit/protocol';

/*
 * A port of LiveKit's coalesce() (livekit/livekit pkg/telemetry/statsworker.go), with its
 * isValid() and pkg/utils Median(): one track's stats of a flush interval become one stat
 * with a single stream and a single video layer. It follows the Go code to the bit, so a
 * stat flushed here reads the same as one LiveKit would have sent:
 * - scores are float32 in Go, so every score is rounded to float32 on the way in and
 *   every sum and division on them is rounded again (Math.fround);
 * - counters are uint32 / uint64 in Go and wrap on overflow instead of growing;
 * - times are compared as Go's time.Time: a missing timestamp reads as the Unix epoch
 *   (AsTime of nil), and when no stream was seen at all the result carries Go's zero
 *   time, 0001-01-01T00:00:00Z, not the epoch.
 */

const I32 = 2 ** 31;
const I64 = 2n ** 63n;
const NS = 1_000_000_000n;
/** Go's zero time.Time (year 1), in nanoseconds since the Unix epoch: the "not set yet" mark. */
const GO_ZERO_TIME_NS = -62_135_596_800n * NS;

/**
 * LiveKit's isValid: counters are unsigned on the wire, and one that reads as negative
 * once cast to its signed type in Go (uint32 >= 2^31, uint64 >= 2^63) came from a
 * wrapped subtraction in the SFU, not from traffic; such a stat would poison the sums.
 */
export function isValidStat(stat: AnalyticsStat): boolean {
  for (const s of stat.streams) {
    if (
      s.primaryPackets >= I32 || s.primaryBytes >= I64 || s.retransmitPackets >= I32 || s.retransmitBytes >= I64
      || s.paddingPackets >= I32 || s.paddingBytes >= I64 || s.packetsLost >= I32 || s.packetsOutOfOrder >= I32
      || s.frames >= I32 || s.nacks >= I32 || s.plis >= I32 || s.firs >= I32
    ) return false;
    for (const l of s.videoLayers) {
      if (l.packets >= I32 || l.bytes >= I64 || l.frames >= I32) return false;
    }
  }
  return true;
}

/**
 * LiveKit's utils.Median over float32 values: the middle one, or for an even count the
 * float32 mean of the two middle ones ((left + right) / 2, the sum rounded first as Go does).
 */
export function median(values: number[]): number {
  if (values.length === 0) return 0;
  if (values.length === 1) return values[0];
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length % 2 !== 0) return sorted[mid];
  return Math.fround(Math.fround(sorted[mid - 1] + sorted[mid]) / 2);
}

const u32 = (v: number) => v >>> 0;
const u64 = (v: bigint) => BigInt.asUintN(64, v);

/** A stream's counters that coalesce() sums, wrapping as Go's uint32 / uint64 do. */
const SUMMED_U32 = ['primaryPackets', 'retransmitPackets', 'paddingPackets', 'packetsLost', 'packetsOutOfOrder', 'frames', 'nacks', 'plis', 'firs'] as const;
const SUMMED_U64 = ['primaryBytes', 'retransmitBytes', 'paddingBytes'] as const;

/** Go's Timestamp.AsTime(): nil is the epoch, and nanos out of range carry into seconds. */
function asTimeNs(t: Timestamp | undefined): bigint {
  return t ? t.seconds * NS + BigInt(t.nanos) : 0n;
}

/** Go's timestamppb.New(): seconds floor, nanos in [0, 1e9). */
function timestampOf(ns: bigint): Timestamp {
  let seconds = ns / NS;
  let nanos = ns % NS;
  if (nanos < 0n) {
    seconds -= 1n;
    nanos += NS;
  }
  return new Timestamp({ seconds, nanos: Number(nanos) });
}

export function coalesce(stats: AnalyticsStat[]): AnalyticsStat | undefined {
  if (stats.length === 0) return undefined;

  let startNs = GO_ZERO_TIME_NS;
  let endNs = GO_ZERO_TIME_NS;
  let scoreSum = 0;
  let minScore = 0;
  const scores: number[] = [];
  let maxRtt = 0;
  let maxJitter = 0;
  const layers = new Map<number, AnalyticsVideoLayer>();
  const c = new AnalyticsStream();

  for (const stat of stats) {
    if (!isValidStat(stat)) continue;

    // a zero score means "not measured", so it must not drag the average and min down
    const score = Math.fround(stat.score);
    if (score > 0) {
      if (minScore === 0 || score < minScore) minScore = score;
      scoreSum = Math.fround(scoreSum + score);
      scores.push(score);
    }

    for (const s of stat.streams) {
      const start = asTimeNs(s.startTime);
      if (startNs === GO_ZERO_TIME_NS || startNs > start) startNs = start;
      const end = asTimeNs(s.endTime);
      if (endNs === GO_ZERO_TIME_NS || endNs < end) endNs = end;
      if (s.rtt > maxRtt) maxRtt = s.rtt;
      if (s.jitter > maxJitter) maxJitter = s.jitter;

      for (const f of SUMMED_U32) c[f] = u32(c[f] + s[f]);
      for (const f of SUMMED_U64) c[f] = u64(c[f] + s[f]);

      for (const l of s.videoLayers) {
        const acc = layers.get(l.layer);
        // the first sighting is cloned so the caller's stat is never mutated by the sums
        if (!acc) layers.set(l.layer, l.clone());
        else {
          acc.packets = u32(acc.packets + l.packets);
          acc.bytes = u64(acc.bytes + l.bytes);
          acc.frames = u32(acc.frames + l.frames);
        }
      }
    }
  }
  c.startTime = timestampOf(startNs);
  c.endTime = timestampOf(endNs);
  c.rtt = maxRtt;
  c.jitter = maxJitter;

  // analytics wants one layer per track: LiveKit reports the highest one seen in the interval
  let top: AnalyticsVideoLayer | undefined;
  for (const l of layers.values()) if (!top || l.layer > top.layer) top = l;
  if (top) c.videoLayers = [top];

  const out = new AnalyticsStat({
    minScore,
    medianScore: median(scores),
    streams: [c],
    // the latest mime wins, even from a stat skipped as invalid (as in Go)
    mime: stats[stats.length - 1].mime,
  });
  if (scores.length > 0) out.score = Math.fround(scoreSum / scores.length);
  return out;
}

type Json = Record<string, unknown>;
const STREAM_COUNTERS = ['primaryPackets', 'retransmitPackets', 'paddingPackets', 'packetsLost', 'frames', 'rtt', 'jitter', 'nacks', 'plis', 'firs', 'packetsOutOfOrder'];
const STREAM_BYTES = ['primaryBytes', 'retransmitBytes', 'paddingBytes'];

/**
 * coalesce() of a track's only stat in a flush, on its protobuf JSON form: most tracks
 * send one stat per interval, and decoding and re-encoding protobuf JSON was most of the
 * flush's cost. Gives exactly what `coalesce([stat]).toJson()` gives (a test compares
 * them), or undefined for anything but the plain case (one stream, at most one video
 * layer, valid counters, a finite score): the caller then takes the general path.
 */
export function coalesceOneJson(stat: Json): Json | undefined {
  const streams = stat.streams as Json[] | undefined;
  if (!streams || streams.length !== 1) return undefined;
  const s = streams[0];
  const layers = (s.videoLayers as Json[] | undefined) ?? [];
  if (layers.length > 1) return undefined;
  // "NaN" / "Infinity" are protobuf JSON strings: leave them to the class path's encoder
  const score = Math.fround(Number(stat.score ?? 0));
  if (!Number.isFinite(score)) return undefined;

  const stream: Json = {};
  for (const f of STREAM_COUNTERS) {
    const v = Number(s[f] ?? 0);
    if (!Number.isInteger(v) || v < 0 || (f !== 'rtt' && f !== 'jitter' && v >= I32) || v >= 2 ** 32) return undefined;
    if (v !== 0) stream[f] = v;
  }
  for (const f of STREAM_BYTES) {
    const v = BigInt((s[f] as string | number | undefined) ?? 0);
    if (v < 0n || v >= I64) return undefined;
    if (v !== 0n) stream[f] = v.toString();
  }
  if (layers.length === 1) {
    const l = layers[0];
    const packets = Number(l.packets ?? 0);
    const frames = Number(l.frames ?? 0);
    const bytes = BigInt((l.bytes as string | number | undefined) ?? 0);
    if (packets >= I32 || frames >= I32 || bytes >= I64) return undefined;
    // the layer is cloned as it is, every field kept
    stream.videoLayers = [AnalyticsVideoLayer.fromJson(l as never).toJson()];
  }
  stream.startTime = (s.startTime ? Timestamp.fromJson(s.startTime as string) : new Timestamp()).toJson();
  stream.endTime = (s.endTime ? Timestamp.fromJson(s.endTime as string) : new Timestamp()).toJson();

  const out: Json = { streams: [stream] };
  if (score > 0) {
    out.score = score;
    out.minScore = score;
    out.medianScore = score;
  }
  if (stat.mime) out.mime = stat.mime;
  return out;
}
