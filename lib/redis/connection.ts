import Redis, { type RedisOptions } from 'ioredis';
import { loadScripts, type ScriptCommands } from './scripts';

export type RedisClient = Redis & ScriptCommands;

/**
 * The one way this project opens Redis: every Lua script of `lua/` registered on it, and
 * concurrent calls pipelined automatically (one write per event-loop tick, not one per call).
 */
export function createRedis(url: string, extra: RedisOptions = {}): RedisClient {
  const redis = new Redis(url, {
    enableAutoPipelining: true,
    // Fail a call fast while Redis is down rather than queue it unacknowledged for ever.
    maxRetriesPerRequest: 2,
    ...extra,
  });
  loadScripts(redis);
  return redis as RedisClient;
}
