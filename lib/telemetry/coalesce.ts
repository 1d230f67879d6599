import { Timestamp } from '@bufbuild/protobuf';
import { AnalyticsStat, AnalyticsStream, AnalyticsVideoLayer } from '@livekit/protocol';

/*
 * A port of LiveKit's coalesce() (pkg/telemetry/statsworker.go): one track's stats of a
 * flush interval become one stat with a single stream and a single video layer.
 */

const I32 = 2 ** 31;
const I64 = 2n ** 63n;

/**
 * LiveKit's isValid: counters are unsigned on the wire, and a value read as negative
 * in Go (uint32 >= 2^31, uint64 >= 2^63) is a wrapped subtraction upstream, not traffic.
 */
export function isValidStat(stat: AnalyticsStat): boolean {
  for (const s of stat.streams) {
    if ([s.primaryPackets, s.retransmitPackets, s.paddingPackets, s.packetsLost, s.packetsOutOfOrder, s.frames, s.nacks, s.plis, s.firs].some((v) => v >= I32)) return false;
    if ([s.primaryBytes, s.retransmitBytes, s.paddingBytes].some((v) => BigInt(v) >= I64)) return false;
    for (const l of s.videoLayers) {
      if (l.packets >= I32 || l.frames >= I32 || BigInt(l.bytes) >= I64) return false;
    }
  }
  return true;
}

/** livekit/protocol utils.Median: the middle value, or the mean of the two middle ones. */
export function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : Math.fround((sorted[mid - 1] + sorted[mid]) / 2);
}

const u32 = (v: number) => v >>> 0;
const u64 = (v: bigint) => BigInt.asUintN(64, v);

export function coalesce(stats: AnalyticsStat[]): AnalyticsStat | undefined {
  if (stats.length === 0) return undefined;

  let start: Timestamp | undefined;
  let end: Timestamp | undefined;
  // scores are float32 in LiveKit: accumulate as float32 so results match
  let scoreSum = 0;
  let minScore = 0;
  const scores: number[] = [];
  let maxRtt = 0;
  let maxJitter = 0;
  const layers = new Map<number, AnalyticsVideoLayer>();
  const c = new AnalyticsStream();

  for (const stat of stats) {
    if (!isValidStat(stat)) continue;

    if (stat.score > 0) {
      if (minScore === 0 || stat.score < minScore) minScore = stat.score;
      scoreSum = Math.fround(scoreSum + stat.score);
      scores.push(stat.score);
    }

    for (const s of stat.streams) {
      const sStart = s.startTime ?? new Timestamp();
      const sEnd = s.endTime ?? new Timestamp();
      if (!start || isZero(start) || before(sStart, start)) start = sStart;
      if (!end || isZero(end) || before(end, sEnd)) end = sEnd;
      maxRtt = Math.max(maxRtt, s.rtt);
      maxJitter = Math.max(maxJitter, s.jitter);

      c.primaryPackets = u32(c.primaryPackets + s.primaryPackets);
      c.primaryBytes = u64(c.primaryBytes + s.primaryBytes);
      c.retransmitPackets = u32(c.retransmitPackets + s.retransmitPackets);
      c.retransmitBytes = u64(c.retransmitBytes + s.retransmitBytes);
      c.paddingPackets = u32(c.paddingPackets + s.paddingPackets);
      c.paddingBytes = u64(c.paddingBytes + s.paddingBytes);
      c.packetsLost = u32(c.packetsLost + s.packetsLost);
      c.packetsOutOfOrder = u32(c.packetsOutOfOrder + s.packetsOutOfOrder);
      c.frames = u32(c.frames + s.frames);
      c.nacks = u32(c.nacks + s.nacks);
      c.plis = u32(c.plis + s.plis);
      c.firs = u32(c.firs + s.firs);

      for (const l of s.videoLayers) {
        const acc = layers.get(l.layer);
        if (!acc) layers.set(l.layer, l.clone());
        else {
          acc.packets = u32(acc.packets + l.packets);
          acc.bytes = u64(acc.bytes + l.bytes);
          acc.frames = u32(acc.frames + l.frames);
        }
      }
    }
  }
  c.startTime = start ?? new Timestamp();
  c.endTime = end ?? new Timestamp();
  c.rtt = maxRtt;
  c.jitter = maxJitter;

  // cut down to the highest layer present
  let top: AnalyticsVideoLayer | undefined;
  for (const l of layers.values()) if (!top || l.layer > top.layer) top = l;
  if (top) c.videoLayers = [top];

  const out = new AnalyticsStat({
    minScore,
    medianScore: median(scores),
    streams: [c],
    mime: stats[stats.length - 1].mime,
  });
  if (scores.length > 0) out.score = Math.fround(scoreSum / scores.length);
  return out;
}

function isZero(t: Timestamp): boolean {
  return t.seconds === 0n && t.nanos === 0;
}

function before(a: Timestamp, b: Timestamp): boolean {
  return a.seconds < b.seconds || (a.seconds === b.seconds && a.nanos < b.nanos);
}

type Json = Record<string, unknown>;
const STREAM_COUNTERS = ['primaryPackets', 'retransmitPackets', 'paddingPackets', 'packetsLost', 'frames', 'rtt', 'jitter', 'nacks', 'plis', 'firs', 'packetsOutOfOrder'];
const STREAM_BYTES = ['primaryBytes', 'retransmitBytes', 'paddingBytes'];

/**
 * coalesce() of a track's only stat in a flush, on its protobuf JSON form: most tracks
 * send one stat per interval, and decoding and re-encoding protobuf JSON was most of the
 * flush's cost. Gives exactly what `coalesce([stat]).toJson()` gives (a test compares
 * them), or undefined for anything but the plain case (one stream, at most one video
 * layer, valid counters): the caller then takes the general path.
 */
export function coalesceOneJson(stat: Json): Json | undefined {
  const streams = stat.streams as Json[] | undefined;
  if (!streams || streams.length !== 1) return undefined;
  const s = streams[0];
  const layers = (s.videoLayers as Json[] | undefined) ?? [];
  if (layers.length > 1) return undefined;

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
  const score = Number(stat.score ?? 0);
  if (score > 0) {
    out.score = Math.fround(Math.fround(score) / 1);
    out.minScore = score;
    out.medianScore = score;
  }
  if (stat.mime) out.mime = stat.mime;
  return out;
}
