import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import { CLIENT_DEFAULTS } from '../client/options';
import type { LogFormat } from '../log';
import type { ClusterTarget, RedisTarget, SentinelTarget, TlsFiles } from '../redis/connection';
import type { WebhookOptions } from '../webhooks/options';
import { DURATION_FORMS, parseDuration } from './duration';
import { ConfigError, parseSize, type Env } from './env';
import { loadHttpOptions, type NodeHttpOptions } from './http';
import { loadWebhookOptions } from './webhooks';

export { ConfigError, parseSize, type Env } from './env';

/**
 * Every setting of a node, read from the environment in one place (loadOptions): the core
 * settings below, then one part per consumer (`http`, `webhooks`), each part's type kept
 * beside the code that uses it. Each entry documents itself; `.env.example` lists the same
 * names and defaults.
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
  /** Pretty lines at a terminal unless NODE_ENV=production, JSON lines otherwise (logFormatOf). */
  logFormat: LogFormat;
  /** Approximate length each analytics stream is trimmed to. */
  analyticsMaxLen: number;
  /** This coordinator node's id (NODE_ID), stamped on analytics; not an SFU node's `nodeId`. */
  coordinatorId: string;
  /** Room and participant metadata accepted (LiveKit's limits.max_metadata_size). */
  maxMetadataBytes: number;
  /** An event id is remembered (a retry is not applied again) at least this long, at most twice it. */
  idempotencyWindowMs: number;
  /** SIGTERM: the node exits within this, whatever Redis does (exit 1 if it left work for the others). */
  drainTimeoutMs: number;
  /** Replicas that must hold a batch's writes (WAIT) before its 200; 0 = acknowledge once the master has them. */
  redisWaitReplicas: number;
  /** How long a batch waits for them before it is answered 503 (applied on the master; the retry is a no-op unless a failover lost it). */
  redisWaitTimeoutMs: number;
  /**
   * BullMQ queues each kind of work is spread over (one hash slot each): 0 = auto, 1 on one
   * Redis, as many as the masters on a cluster. Every node of a fleet must use the same.
   */
  queueShards: number;
  /** PORT, API_KEY / API_SECRET (the dev keys unless NODE_ENV=production), MAX_BODY: lib/config/http.ts. */
  http: NodeHttpOptions;
  /** WEBHOOK_*, signed with the node's keys (`http`'s, the dev keys included): lib/config/webhooks.ts. */
  webhooks: WebhookOptions;
  /**
   * TelemetryClient's defaults (lib/client/options.ts). No variable sets them: a client is
   * configured by its SFU node's code. Here so that every default has one place to be read.
   */
  client: typeof CLIENT_DEFAULTS;
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
  REDIS_WAIT_REPLICAS: '0',
  REDIS_WAIT_TIMEOUT: '500ms',
  QUEUE_SHARDS: 'auto',
} as const;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

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

function size(env: Env, name: keyof typeof DEFAULTS, min: number): number {
  const raw = read(env, name);
  const n = parseSize(raw);
  if (n === null || n < min) throw new ConfigError(name, raw, `a size such as 512kb, 1mb or 100000, at least ${min} bytes`);
  return n;
}

function coordinatorIdOf(env: Env): string {
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

const TLS_FILES = { ca: 'REDIS_TLS_CA_FILE', cert: 'REDIS_TLS_CERT_FILE', key: 'REDIS_TLS_KEY_FILE' } as const;

/** REDIS_USE_TLS and the TLS files; undefined when TLS is off. The files must be readable now, not at the first connection. */
function tlsFiles(env: Env, on: boolean, why: string): TlsFiles | undefined {
  const files: TlsFiles = {};
  for (const [field, variable] of Object.entries(TLS_FILES)) {
    const path = env[variable]?.trim();
    if (!path) continue;
    if (!on) throw new ConfigError(variable, path, `TLS on (${why}): without it the file is not used`);
    try {
      accessSync(path, constants.R_OK);
    } catch {
      throw new ConfigError(variable, path, 'a readable PEM file');
    }
    files[field as keyof TlsFiles] = path;
  }
  if (files.cert && !files.key) throw new ConfigError('REDIS_TLS_KEY_FILE', '', 'the client certificate\'s key, set with REDIS_TLS_CERT_FILE');
  if (files.key && !files.cert) throw new ConfigError('REDIS_TLS_CERT_FILE', '', 'the client certificate, set with REDIS_TLS_KEY_FILE');
  return on ? files : undefined;
}

function flag(env: Env, name: string): boolean {
  const raw = env[name]?.trim().toLowerCase() ?? '';
  if (raw === '' || raw === 'false' || raw === '0') return false;
  if (raw === 'true' || raw === '1') return true;
  throw new ConfigError(name, raw, 'true or false');
}

/**
 * Where Redis is, named as LiveKit's redis settings are: REDIS_URL (standalone), the
 * Sentinel settings (sentinel_addresses, sentinel_master_name), or REDIS_CLUSTER_ADDRESSES
 * (cluster_addresses); exactly one of them, or none (`npm start` runs a private redis-server).
 */
function redisTarget(env: Env): RedisTarget | undefined {
  const get = (name: string) => env[name]?.trim() || undefined;
  const url = get('REDIS_URL');
  // unparsable, it would fail later with a TypeError whose `input` (printed with it) holds the
  // password; a path other than a database number is a password's unescaped '/' as often as not
  if (url && (!/^rediss?:\/\//.test(url) || !URL.canParse(url) || !/^\/?\d*$/.test(new URL(url).pathname))) {
    throw new ConfigError('REDIS_URL', url, 'a redis:// or rediss:// URL, its path (if any) a database number, a password\'s reserved characters %-escaped');
  }
  const sentinels = get('REDIS_SENTINEL_ADDRESSES');
  const name = get('REDIS_SENTINEL_MASTER_NAME');
  const cluster = get('REDIS_CLUSTER_ADDRESSES');
  if (name && !sentinels) throw new ConfigError('REDIS_SENTINEL_MASTER_NAME', name, 'REDIS_SENTINEL_ADDRESSES set with it (the sentinels to ask for that master)');
  const given = [url && 'REDIS_URL', sentinels && 'REDIS_SENTINEL_ADDRESSES', cluster && 'REDIS_CLUSTER_ADDRESSES'].filter(Boolean) as string[];
  if (given.length > 1) {
    throw new ConfigError(given[1], get(given[1])!, `${given[0]} unset: a node uses one Redis (REDIS_URL), a master found through Sentinel (REDIS_SENTINEL_ADDRESSES) or a Redis Cluster (REDIS_CLUSTER_ADDRESSES), one of them`);
  }
  const useTls = flag(env, 'REDIS_USE_TLS');
  const auth = { username: 'REDIS_USERNAME', password: 'REDIS_PASSWORD' } as const;
  if (url) {
    if (useTls && url.startsWith('redis:')) throw new ConfigError('REDIS_USE_TLS', 'true', 'a rediss:// REDIS_URL (TLS is asked for by the URL\'s scheme)');
    for (const variable of Object.values(auth)) {
      if (get(variable)) throw new ConfigError(variable, variable === 'REDIS_PASSWORD' ? '(hidden)' : get(variable)!, 'unset with REDIS_URL: put the ACL user and password in the URL (redis://user:password@host:port)');
    }
    const tls = tlsFiles(env, url.startsWith('rediss:'), 'a rediss:// REDIS_URL');
    return tls && Object.keys(tls).length > 0 ? { url, tls } : url;
  }
  const common: { username?: string; password?: string; tls?: TlsFiles } = {};
  for (const [field, variable] of Object.entries(auth)) {
    const v = get(variable);
    if (v) common[field as keyof typeof auth] = v;
  }
  if (sentinels || cluster) {
    const tls = tlsFiles(env, useTls, 'REDIS_USE_TLS=true');
    if (tls) common.tls = tls;
  } else {
    tlsFiles(env, false, 'REDIS_USE_TLS=true with REDIS_SENTINEL_ADDRESSES or REDIS_CLUSTER_ADDRESSES, or a rediss:// REDIS_URL');
    if (useTls) throw new ConfigError('REDIS_USE_TLS', 'true', 'a Redis to use it with: REDIS_SENTINEL_ADDRESSES or REDIS_CLUSTER_ADDRESSES (for REDIS_URL, write rediss://)');
    for (const variable of Object.values(auth)) {
      if (get(variable)) throw new ConfigError(variable, variable === 'REDIS_PASSWORD' ? '(hidden)' : get(variable)!, 'a Redis to use it with: REDIS_SENTINEL_ADDRESSES or REDIS_CLUSTER_ADDRESSES');
    }
  }
  if (cluster) {
    const target: ClusterTarget = { cluster: addresses('REDIS_CLUSTER_ADDRESSES', cluster), ...common };
    return target;
  }
  if (!sentinels) return undefined;
  if (!name) throw new ConfigError('REDIS_SENTINEL_MASTER_NAME', '', 'the master name the sentinels know, set with REDIS_SENTINEL_ADDRESSES');
  const target: SentinelTarget = { sentinels: addresses('REDIS_SENTINEL_ADDRESSES', sentinels), name, ...common };
  const sentinelAuth = { sentinelUsername: 'REDIS_SENTINEL_USERNAME', sentinelPassword: 'REDIS_SENTINEL_PASSWORD' } as const;
  for (const [field, variable] of Object.entries(sentinelAuth)) {
    const v = get(variable);
    if (v) target[field as keyof typeof sentinelAuth] = v;
  }
  return target;
}

/**
 * Pretty lines for a person at a terminal (stdout a TTY), as `livekit-server --dev` prints;
 * JSON lines for everything else (a pipe, a file, a log collector, a child process) and
 * always with NODE_ENV=production. No variable overrides it: pipe JSON through
 * `npx pino-pretty` to read it, or through `cat` to keep JSON at a terminal.
 */
export function logFormatOf(env: Env, stdoutIsTTY: boolean): LogFormat {
  return stdoutIsTTY && env.NODE_ENV !== 'production' ? 'pretty' : 'json';
}

/** QUEUE_SHARDS: a number, or 0 for "auto" (1 on one Redis, the number of masters on a cluster, found at start-up). */
function queueShards(env: Env): number {
  const raw = read(env, 'QUEUE_SHARDS').toLowerCase();
  if (raw === 'auto') return 0;
  return integer(env, 'QUEUE_SHARDS', 1, 256);
}

/**
 * Every setting from `env` (the process's environment unless given): the only reader of
 * the environment in lib/. Throws ConfigError naming the first variable it cannot use, the
 * core settings first, then http's, then webhooks'.
 */
export function loadOptions(env: Env = process.env): Options {
  const redis = redisTarget(env);
  const redisPrefix = read(env, 'REDIS_PREFIX');
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(redisPrefix)) {
    throw new ConfigError('REDIS_PREFIX', redisPrefix, '1 to 64 letters, digits, "_", "." or "-" (no braces: they would break the hash tags)');
  }
  const logLevel = read(env, 'LOG_LEVEL').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', logLevel, `one of ${LOG_LEVELS.join(', ')}`);
  const core = {
    redis,
    redisPrefix,
    registryShards: integer(env, 'REGISTRY_SHARDS', 1, 1024),
    workerCleanupWaitMs: duration(env, 'WORKER_CLEANUP_WAIT', 0),
    flushIntervalMs: duration(env, 'FLUSH_INTERVAL', 100),
    nodeLeaseMs: duration(env, 'NODE_LEASE', 1000),
    logLevel,
    logFormat: logFormatOf(env, process.stdout.isTTY === true),
    analyticsMaxLen: integer(env, 'ANALYTICS_MAXLEN', 100, 1_000_000_000),
    coordinatorId: coordinatorIdOf(env),
    maxMetadataBytes: size(env, 'MAX_METADATA', 0),
    idempotencyWindowMs: duration(env, 'IDEMPOTENCY_WINDOW', 1000),
    drainTimeoutMs: duration(env, 'DRAIN_TIMEOUT', 100),
    queueShards: queueShards(env),
    redisWaitReplicas: integer(env, 'REDIS_WAIT_REPLICAS', 0, 100),
    redisWaitTimeoutMs: duration(env, 'REDIS_WAIT_TIMEOUT', 1),
  };
  const http = loadHttpOptions(env);
  const webhooks = loadWebhookOptions({ ...env, API_KEY: http.apiKey, API_SECRET: http.apiSecret });
  return { ...core, http, webhooks, client: { ...CLIENT_DEFAULTS } };
}
