import { AnalyticsEvent, AnalyticsStat } from '@livekit/protocol';
import type { RedisClient } from '../../lib/redis/connection';
import { KeySpace } from '../../lib/redis/keys';

/** The key names of a node with the default REDIS_PREFIX (`tc`), as `npm start` writes them. */
const TC = new KeySpace('tc', 1);

/** A stream entry's fields as an object (XRANGE gives them flat: name, value, name, value). */
export const fieldsOf = (flat: string[]): Record<string, string> =>
  Object.fromEntries(Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i], flat[2 * i + 1]]));

/** Every entry of a stream, oldest first, as field objects. */
export async function streamEntries(client: RedisClient, key: string): Promise<Record<string, string>[]> {
  return (await client.xrange(key, '-', '+')).map(([, flat]) => fieldsOf(flat));
}

/** The stats the flushes wrote to the analytics stream (protobuf JSON in `data`), oldest first. */
export async function analyticsStats(client: RedisClient, keys: KeySpace = TC): Promise<AnalyticsStat[]> {
  return (await streamEntries(client, keys.analyticsStream('stats'))).map((f) => AnalyticsStat.fromJsonString(f.data));
}

/** The analytics events written to their stream (protobuf JSON in `data`), oldest first. */
export async function analyticsEvents(client: RedisClient, keys: KeySpace = TC): Promise<AnalyticsEvent[]> {
  return (await streamEntries(client, keys.analyticsStream('events'))).map((f) => AnalyticsEvent.fromJsonString(f.data));
}

/** The stats set aside (the stats dead-letter stream): participantId, trackId, kind, data, reason, batchId. */
export async function rejectedStats(client: RedisClient, keys: KeySpace = TC): Promise<Record<string, string>[]> {
  return streamEntries(client, keys.statsRejectedStream());
}
