import os from 'node:os';
import { DURATION_FORMS, parseDuration } from './duration';

/**
 * Every setting of a node, read from the environment in one place.
 * Each entry documents itself; `.env.example` lists the same names and defaults.
 */
export interface Options {
  /** Redis to use; empty means `npm start` runs a private redis-server. */
  redisUrl: string | undefined;
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

export function loadOptions(env: Env = process.env): Options {
  const redisUrl = env.REDIS_URL?.trim() || undefined;
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigError('REDIS_URL', redisUrl, 'a redis:// or rediss:// URL');
  }
  const redisPrefix = read(env, 'REDIS_PREFIX');
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(redisPrefix)) {
    throw new ConfigError('REDIS_PREFIX', redisPrefix, '1 to 64 letters, digits, "_", "." or "-" (no braces: they would break the hash tags)');
  }
  const logLevel = read(env, 'LOG_LEVEL').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', logLevel, `one of ${LOG_LEVELS.join(', ')}`);
  return {
    redisUrl,
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
  };
}
