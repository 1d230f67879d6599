import os from 'node:os';
import type { RedisTarget, SentinelTarget } from '../redis/connection';
import { DURATION_FORMS, parseDuration } from './duration';

/**
 * Every setting of a node, read from the environment in one place.
 * Each entry documents itself; `.env.example` lists the same names and defaults.
 */
export interface Options {
  /** Redis to use (REDIS_URL, or Sentinel); undefined means `npm start` runs a private redis-server. */
  redis: RedisTarget | undefined;
  /** Prefix of every Redis key this project writes. */
  redisPrefix: string;
  /** Registry shards: each is one Redis Cluster hash slot holding a slice of the rooms. */
  registryShards: number;
  /** How long a closed worker is kept (and can be re-opened) before it is reaped. */
  workerCleanupWaitMs: number;
  /** Period of the stats flush. */
  flushIntervalMs: number;
  /** An SFU node silent for this long is considered dead and its guards are released. */
  nodeLeaseMs: number;
  logLevel: string;
  /** Approximate length each analytics stream is trimmed to. */
  analyticsMaxLen: number;
  /** This coordinator node's id, stamped on analytics. */
  nodeId: string;
  /** Room and participant metadata accepted (LiveKit's limits.max_metadata_size). */
  maxMetadataBytes: number;
  /** An event id is remembered (a retry is not applied again) at least this long, at most twice it. */
  idempotencyWindowMs: number;
  /** SIGTERM: the node exits within this, whatever Redis does (exit 1 if it left work for the others). */
  drainTimeoutMs: number;
}

export const DEFAULTS = {
  REDIS_PREFIX: 'tc',
  REGISTRY_SHARDS: '16',
  WORKER_CLEANUP_WAIT: '3m',
  FLUSH_INTERVAL: '30s',
  NODE_LEASE: '20s',
  LOG_LEVEL: 'info',
  ANALYTICS_MAXLEN: '100000',
  NODE_ID: '',
  MAX_METADATA: '512kb',
  IDEMPOTENCY_WINDOW: '2m',
  DRAIN_TIMEOUT: '20s',
} as const;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** A setting that cannot be used; start-up stops with its message. */
export class ConfigError extends Error {
  constructor(readonly variable: string, readonly value: string, readonly accepted: string) {
    super(`${variable}=${JSON.stringify(value)} is not valid: expected ${accepted}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function read(env: Env, name: keyof typeof DEFAULTS): string {
  const v = env[name];
  return v === undefined || v.trim() === '' ? DEFAULTS[name] : v.trim();
}

function duration(env: Env, name: keyof typeof DEFAULTS, min = 1): number {
  const raw = read(env, name);
  const ms = parseDuration(raw);
  if (ms === null || ms < min) throw new ConfigError(name, raw, `${DURATION_FORMS}, at least ${min}ms`);
  return ms;
}

function integer(env: Env, name: keyof typeof DEFAULTS, min: number, max: number): number {
  const raw = read(env, name);
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) throw new ConfigError(name, raw, `a whole number from ${min} to ${max}`);
  return n;
}

const SIZE = /^(\d+)\s*(b|kb|mb)?$/i;

/** A size in bytes: 100000, 512kb, 1mb; null if it is not one. */
export function parseSize(raw: string): number | null {
  const m = SIZE.exec(raw.trim());
  if (!m) return null;
  return Number(m[1]) * ({ b: 1, kb: 1024, mb: 1024 * 1024 } as Record<string, number>)[(m[2] ?? 'b').toLowerCase()];
}

function size(env: Env, name: keyof typeof DEFAULTS, min: number): number {
  const raw = read(env, name);
  const n = parseSize(raw);
  if (n === null || n < min) throw new ConfigError(name, raw, `a size such as 512kb, 1mb or 100000, at least ${min} bytes`);
  return n;
}

function nodeIdOf(env: Env): string {
  const raw = read(env, 'NODE_ID');
  if (raw === '') return `${os.hostname()}-${process.pid}`;
  if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(raw)) throw new ConfigError('NODE_ID', raw, "1 to 128 letters, digits, '_', '.', ':' or '-'");
  return raw;
}

/** host:port,host:port (a comma-separated list of addresses). */
function addresses(name: string, raw: string): { host: string; port: number }[] {
  const list = raw.split(',').map((a) => a.trim()).filter(Boolean).map((a) => {
    const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/.exec(a);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new ConfigError(name, raw, 'comma-separated host:port addresses');
    return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  });
  if (list.length === 0) throw new ConfigError(name, raw, 'comma-separated host:port addresses');
  return list;
}

/** REDIS_URL, or the Sentinel settings (LiveKit's redis.sentinel_master_name and sentinel_addresses); never both. */
function redisTarget(env: Env): RedisTarget | undefined {
  const url = env.REDIS_URL?.trim() || undefined;
  if (url && !/^rediss?:\/\//.test(url)) throw new ConfigError('REDIS_URL', url, 'a redis:// or rediss:// URL');
  const sentinels = env.REDIS_SENTINEL_ADDRESSES?.trim() || undefined;
  const name = env.REDIS_SENTINEL_MASTER_NAME?.trim() || undefined;
  if (!sentinels) {
    if (name) throw new ConfigError('REDIS_SENTINEL_MASTER_NAME', name, 'REDIS_SENTINEL_ADDRESSES set with it (the sentinels to ask for that master)');
    return url;
  }
  if (url) throw new ConfigError('REDIS_SENTINEL_ADDRESSES', sentinels, 'REDIS_URL unset: a node uses either one Redis (REDIS_URL) or a master found through Sentinel, not both');
  if (!name) throw new ConfigError('REDIS_SENTINEL_MASTER_NAME', '', 'the master name the sentinels know, set with REDIS_SENTINEL_ADDRESSES');
  const target: SentinelTarget = { sentinels: addresses('REDIS_SENTINEL_ADDRESSES', sentinels), name };
  const optional = { username: 'REDIS_USERNAME', password: 'REDIS_PASSWORD', sentinelUsername: 'REDIS_SENTINEL_USERNAME', sentinelPassword: 'REDIS_SENTINEL_PASSWORD' } as const;
  for (const [field, variable] of Object.entries(optional)) {
    const v = env[variable]?.trim();
    if (v) target[field as keyof typeof optional] = v;
  }
  return target;
}

export function loadOptions(env: Env = process.env): Options {
  const redis = redisTarget(env);
  const redisPrefix = read(env, 'REDIS_PREFIX');
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(redisPrefix)) {
    throw new ConfigError('REDIS_PREFIX', redisPrefix, '1 to 64 letters, digits, "_", "." or "-" (no braces: they would break the hash tags)');
  }
  const logLevel = read(env, 'LOG_LEVEL').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', logLevel, `one of ${LOG_LEVELS.join(', ')}`);
  return {
    redis,
    redisPrefix,
    registryShards: integer(env, 'REGISTRY_SHARDS', 1, 1024),
    workerCleanupWaitMs: duration(env, 'WORKER_CLEANUP_WAIT', 0),
    flushIntervalMs: duration(env, 'FLUSH_INTERVAL', 100),
    nodeLeaseMs: duration(env, 'NODE_LEASE', 1000),
    logLevel,
    analyticsMaxLen: integer(env, 'ANALYTICS_MAXLEN', 100, 1_000_000_000),
    nodeId: nodeIdOf(env),
    maxMetadataBytes: size(env, 'MAX_METADATA', 0),
    idempotencyWindowMs: duration(env, 'IDEMPOTENCY_WINDOW', 1000),
    drainTimeoutMs: duration(env, 'DRAIN_TIMEOUT', 100),
  };
}
