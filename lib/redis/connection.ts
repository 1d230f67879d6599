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

/**
 * Connection options for BullMQ's own connections. A Worker blocks on Redis and must wait
 * through an outage (`blocking`); a Queue that adds jobs inside a request must fail fast,
 * so the request answers 503 instead of hanging.
 */
export function bullConnection(url: string, blocking = true) {
  const u = new URL(url);
  return {
    host: u.hostname, port: Number(u.port || 6379),
    username: u.username || undefined, password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: blocking ? null : 2,
  };
}
