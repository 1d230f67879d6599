import { readFileSync } from 'node:fs';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { ConnectionOptions } from 'bullmq';
import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import { loadScripts, type ScriptCommands } from './scripts';

/** The project's client: one Redis, or a Redis Cluster; either way every script of `lua/` is a command. */
export type RedisClient = (Redis | Cluster) & ScriptCommands;

export interface Address {
  host: string;
  port: number;
}

/**
 * Files for TLS beyond a public CA (REDIS_TLS_CA_FILE, REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE):
 * paths, read when a connection is made, so a target stays a plain object that crosses to the
 * jobs thread as it is.
 */
export interface TlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
}

/** ACL user and password, and TLS, of the Redis servers themselves (not of the sentinels). */
interface ServerAuth {
  username?: string;
  password?: string;
  /** Connect with TLS (REDIS_USE_TLS, or a rediss:// URL), with these files if any. */
  tls?: TlsFiles;
}

/** A standalone Redis (REDIS_URL: redis:// or rediss://; ACL user, password and db in the URL). */
export interface StandaloneTarget {
  url: string;
  /** TLS files for a rediss:// URL. */
  tls?: TlsFiles;
}

/** A Redis master found through Sentinel (REDIS_SENTINEL_ADDRESSES, REDIS_SENTINEL_MASTER_NAME). */
export interface SentinelTarget extends ServerAuth {
  sentinels: Address[];
  /** The master's name in the sentinels' configuration. */
  name: string;
  /** ACL user and password of the sentinels themselves. */
  sentinelUsername?: string;
  sentinelPassword?: string;
}

/** A Redis Cluster (REDIS_CLUSTER_ADDRESSES: some of its nodes; the rest are discovered). */
export interface ClusterTarget extends ServerAuth {
  cluster: Address[];
}

/**
 * Where a node's Redis is. A bare string is a redis:// URL. A plain object, so it crosses
 * to the jobs thread as it is.
 */
export type RedisTarget = string | StandaloneTarget | SentinelTarget | ClusterTarget;

export const isClusterTarget = (target: RedisTarget): target is ClusterTarget => typeof target === 'object' && 'cluster' in target;
export const isSentinelTarget = (target: RedisTarget): target is SentinelTarget => typeof target === 'object' && 'sentinels' in target;
const urlOf = (t: string | StandaloneTarget) => (typeof t === 'string' ? t : t.url);

/**
 * How long a cluster client waits before sending a command again while a master's slots
 * have no master (CLUSTERDOWN) or are moving: longer than a replica takes to be promoted
 * after the default cluster-node-timeout would be wasted retries, shorter would spend the
 * command's retries before the promotion.
 */
export const CLUSTER_RETRY_DELAY_MS = 500;

function tlsOptions(files: TlsFiles | undefined): TlsOptions {
  const read = (p: string | undefined) => (p ? readFileSync(p) : undefined);
  return { ca: read(files?.ca), cert: read(files?.cert), key: read(files?.key) };
}

function serverAuth(t: ServerAuth): RedisOptions {
  return { username: t.username, password: t.password, tls: t.tls ? tlsOptions(t.tls) : undefined };
}

/** ioredis options for a standalone URL: what the URL says, plus TLS files. */
function standaloneOptions(t: string | StandaloneTarget): RedisOptions {
  const u = new URL(urlOf(t));
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 6379),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined,
    tls: u.protocol === 'rediss:' ? tlsOptions(typeof t === 'string' ? undefined : t.tls) : undefined,
  };
}

function sentinelOptions(t: SentinelTarget): RedisOptions {
  return {
    sentinels: t.sentinels, name: t.name, ...serverAuth(t),
    sentinelUsername: t.sentinelUsername, sentinelPassword: t.sentinelPassword,
    // the sentinels speak TLS too when the servers do
    enableTLSForSentinelMode: t.tls !== undefined, sentinelTLS: t.tls ? tlsOptions(t.tls) : undefined,
  };
}

function clusterOptions(t: ClusterTarget, perNode: RedisOptions, extra: Partial<ClusterOptions> = {}): ClusterOptions {
  return {
    redisOptions: { ...serverAuth(t), ...perNode },
    retryDelayOnClusterDown: CLUSTER_RETRY_DELAY_MS,
    retryDelayOnFailover: CLUSTER_RETRY_DELAY_MS,
    retryDelayOnTryAgain: CLUSTER_RETRY_DELAY_MS,
    // a failover changes the slot owners: ask for them again rather than keep hitting the dead master
    slotsRefreshTimeout: 2000,
    ...extra,
  };
}

/** What a target is, for logs: never a password. */
export function describeTarget(target: RedisTarget): string {
  if (isClusterTarget(target)) return `cluster via ${target.cluster.map((a) => `${a.host}:${a.port}`).join(',')}${target.tls ? ' (tls)' : ''}`;
  if (isSentinelTarget(target)) return `sentinel master ${target.name} via ${target.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}${target.tls ? ' (tls)' : ''}`;
  const u = new URL(urlOf(target));
  // the path is a database number; anything else may be a password's unescaped '/'
  return `${u.protocol}//${u.host}${/^\/?\d*$/.test(u.pathname) ? u.pathname : '/…'}`;
}

/**
 * The one way this project opens Redis: every Lua script of `lua/` registered on it, and
 * concurrent calls pipelined automatically (one write per event-loop tick, not one per
 * call; on a cluster, one per master).
 */
export function createRedis(target: RedisTarget, extra: RedisOptions = {}): RedisClient {
  // fail a call fast while Redis is down rather than queue it unacknowledged for ever
  const perCall: RedisOptions = { maxRetriesPerRequest: 2, ...extra };
  let redis: Redis | Cluster;
  if (isClusterTarget(target)) {
    redis = new Cluster(target.cluster, clusterOptions(target, perCall, { enableAutoPipelining: true }));
  } else {
    const where = isSentinelTarget(target) ? sentinelOptions(target) : standaloneOptions(target);
    redis = new Redis({ enableAutoPipelining: true, ...where, ...perCall });
  }
  loadScripts(redis);
  return redis as RedisClient;
}

/**
 * Connection for one of BullMQ's Queues or Workers. A Worker blocks on Redis and must wait
 * through an outage (`blocking`); a Queue that adds jobs inside a request must fail fast,
 * so the request answers 503 instead of hanging.
 *
 * For one Redis or Sentinel it is options (BullMQ opens and closes its connections); for a
 * cluster BullMQ needs a Cluster client, which its owner closes (`closeBullConnection`)
 * after the Queue or Worker, since BullMQ leaves a connection it was given open.
 */
export function bullConnection(target: RedisTarget, blocking = true): ConnectionOptions {
  const maxRetriesPerRequest = blocking ? null : 2;
  if (isClusterTarget(target)) return new Cluster(target.cluster, clusterOptions(target, { maxRetriesPerRequest }));
  const where = isSentinelTarget(target) ? sentinelOptions(target) : standaloneOptions(target);
  return { ...where, maxRetriesPerRequest } as ConnectionOptions;
}

/** Closes what bullConnection made for a cluster (options need nothing). */
export async function closeBullConnection(connection: ConnectionOptions): Promise<void> {
  if (connection instanceof Cluster) await connection.quit().catch(() => connection.disconnect());
}
