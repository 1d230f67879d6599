import Redis, { type RedisOptions } from 'ioredis';
import { loadScripts, type ScriptCommands } from './scripts';

export type RedisClient = Redis & ScriptCommands;

/** A Redis master found through Sentinel (REDIS_SENTINEL_ADDRESSES, REDIS_SENTINEL_MASTER_NAME). */
export interface SentinelTarget {
  sentinels: { host: string; port: number }[];
  /** The master's name in the sentinels' configuration. */
  name: string;
  /** ACL user and password of the master (and its replicas). */
  username?: string;
  password?: string;
  /** ACL user and password of the sentinels themselves. */
  sentinelUsername?: string;
  sentinelPassword?: string;
}

/**
 * Where a node's Redis is: a `redis://` / `rediss://` URL (standalone; ACL user, password
 * and db in the URL), or a master behind Sentinel, which ioredis follows across failovers.
 * A plain object, so it crosses to the jobs thread as it is.
 */
export type RedisTarget = string | SentinelTarget;

/** ioredis options for a Sentinel target (a URL is given to ioredis as it is). */
function sentinelOptions(t: SentinelTarget) {
  return {
    sentinels: t.sentinels, name: t.name, username: t.username, password: t.password,
    sentinelUsername: t.sentinelUsername, sentinelPassword: t.sentinelPassword,
  };
}

/** What a target is, for logs: never a password. */
export function describeTarget(t: RedisTarget): string {
  if (typeof t !== 'string') return `sentinel master ${t.name} via ${t.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`;
  const u = new URL(t);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/**
 * The one way this project opens Redis: every Lua script of `lua/` registered on it, and
 * concurrent calls pipelined automatically (one write per event-loop tick, not one per call).
 */
export function createRedis(target: RedisTarget, extra: RedisOptions = {}): RedisClient {
  const options: RedisOptions = {
    enableAutoPipelining: true,
    // Fail a call fast while Redis is down rather than queue it unacknowledged for ever.
    maxRetriesPerRequest: 2,
    ...extra,
  };
  const redis = typeof target === 'string' ? new Redis(target, options) : new Redis({ ...sentinelOptions(target), ...options });
  loadScripts(redis);
  return redis as RedisClient;
}

/**
 * Connection options for BullMQ's own connections. A Worker blocks on Redis and must wait
 * through an outage (`blocking`); a Queue that adds jobs inside a request must fail fast,
 * so the request answers 503 instead of hanging.
 */
export function bullConnection(target: RedisTarget, blocking = true) {
  if (typeof target !== 'string') return { ...sentinelOptions(target), maxRetriesPerRequest: blocking ? null : 2 };
  const u = new URL(target);
  return {
    host: u.hostname, port: Number(u.port || 6379),
    username: u.username || undefined, password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: blocking ? null : 2,
  };
}
