import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Cluster, default as Redis } from 'ioredis';
import Pipeline from 'ioredis/built/Pipeline';

/**
 * The one loader of `lua/`: each script becomes a command `redis.name(...)`. ioredis sends
 * it by EVALSHA and, on NOSCRIPT (a restarted Redis forgot it), sends the source once and
 * goes back to EVALSHA, also inside pipelines.
 *
 * Every key a script reads or writes is one of its KEYS: Redis (and Redis Cluster, which
 * checks the slots before the script runs, so a slot moving away fails it before any write)
 * sees them all. The file name says how many:
 *
 *   name-<n>.lua    exactly n keys; the command takes the keys, then ARGV
 *   name-<n>+.lua   n fixed keys, then more whose number depends on the input (a worker's keys
 *                   per worker, say); the command takes numkeys first, then the keys, then ARGV
 */
export const LUA_DIR = path.resolve(__dirname, '..', '..', 'lua');

const SCRIPT_FILE = /^([A-Za-z]+)-(\d+)(\+?)\.lua$/;
const INCLUDE = /^--- @include "([^"]+)"\s*$/gm;

type Arg = string | number | Buffer;
type ScriptCommand = (...args: Arg[]) => Promise<unknown>;

export const SCRIPT_NAMES = [
  'openWorker', 'markConnected', 'releaseWorker', 'dueForReaping', 'reapWorker',
  'touchNode', 'lapsedNodes', 'expireNodeGuards', 'forgetNode',
  'bufferStats', 'claimStats', 'renewStats', 'finishStats', 'commitStats', 'rejectStats', 'pendingLeaves', 'ackLeave',
  'enqueueWebhook', 'advanceWebhookLane', 'claimEvents', 'settleEvents',
  'gateWebhookUrl', 'recordWebhookOutcome', 'refundWebhookAttempt', 'limitWebhookUrl', 'openWebhookRuns', 'settleWebhookRuns',
  'leaseWebhookReplay',
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];
export type ScriptCommands = Record<ScriptName, ScriptCommand>;

export interface ScriptSource {
  name: string;
  /** The fixed keys: all of them, or the first ones of a script whose keys vary (`variadic`). */
  numberOfKeys: number;
  /** More keys follow the fixed ones: the caller passes numkeys as the first argument. */
  variadic: boolean;
  lua: string;
}

/** Inlines `--- @include "includes/x"` lines, each include once per script. */
function expandIncludes(source: string, seen: Set<string>): string {
  return source.replace(INCLUDE, (_line, ref: string) => {
    if (seen.has(ref)) return '';
    seen.add(ref);
    const file = path.join(LUA_DIR, `${ref}.lua`);
    return expandIncludes(readFileSync(file, 'utf8'), seen);
  });
}

let cache: ScriptSource[] | null = null;

export function scriptSources(): ScriptSource[] {
  if (cache) return cache;
  const sources: ScriptSource[] = [];
  for (const file of readdirSync(LUA_DIR).sort()) {
    const m = SCRIPT_FILE.exec(file);
    if (!m) continue;
    const lua = expandIncludes(readFileSync(path.join(LUA_DIR, file), 'utf8'), new Set());
    sources.push({ name: m[1], numberOfKeys: Number(m[2]), variadic: m[3] === '+', lua });
  }
  const names = new Set(sources.map((s) => s.name));
  const missing = SCRIPT_NAMES.filter((n) => !names.has(n));
  const unknown = [...names].filter((n) => !(SCRIPT_NAMES as readonly string[]).includes(n));
  if (missing.length || unknown.length || names.size !== sources.length) {
    throw new Error(`lua/ and SCRIPT_NAMES disagree: missing ${missing.join(',') || '-'}, unlisted ${unknown.join(',') || '-'}, ${sources.length - names.size} twice`);
  }
  cache = sources;
  return sources;
}

export function loadScripts(redis: Redis | Cluster): void {
  for (const s of scriptSources()) {
    // without numberOfKeys, ioredis takes numkeys from the first argument (also to find a cluster slot)
    redis.defineCommand(s.name, s.variadic ? { lua: s.lua } : { numberOfKeys: s.numberOfKeys, lua: s.lua });
  }
  shareWithPipelines(redis);
}

/** The script commands this module put on every pipeline (the first client's: the same Lua on every client). */
const onPipelines = new Set<string>();

/**
 * ioredis copies each script command of a client onto every pipeline it makes, and
 * auto-pipelining makes one for each turn of the event loop that sends a command: copying
 * our scripts (two properties each) onto a fresh object cost about as much as building
 * the command itself, in a profile of steady webhook load. The commands are the same
 * functions for every pipeline (they act on `this`, the pipeline, and keep the script's
 * NOSCRIPT handling), so they go once onto the pipelines' prototype and the client keeps
 * none to copy. A client with a key prefix keeps ioredis's copy: its scripts add the prefix.
 */
function shareWithPipelines(redis: Redis | Cluster): void {
  if (redis.options.keyPrefix) return;
  const proto = Pipeline.prototype as unknown as Record<string, unknown>;
  const client = redis as unknown as Record<string, unknown> & { scriptsSet: Record<string, unknown> };
  for (const name of Object.keys(client.scriptsSet)) {
    for (const method of [name, `${name}Buffer`]) {
      if (onPipelines.has(method)) continue;
      if (method in proto) throw new Error(`script ${name}: a pipeline already has a command ${method}`);
      proto[method] = client[method];
      onPipelines.add(method);
    }
  }
  client.scriptsSet = {};
}

/**
 * Arguments of a variadic script (`name-<n>+.lua`): numkeys, the keys, then ARGV. Checks the
 * fixed part is there, so a caller that forgot a fixed key fails here, not inside Redis.
 * (Inside an explicit pipeline, which routes by the keys themselves, pass these.)
 */
export function variadicArgs(fixed: number, keys: string[], argv: Arg[]): Arg[] {
  if (keys.length < fixed) throw new Error(`a script of ${fixed} fixed keys was given ${keys.length}`);
  return [keys.length, ...keys, ...argv];
}

type Client = (Redis | Cluster) & ScriptCommands;
type ScriptPipeline = ScriptCommands & { exec(): Promise<[Error | null, unknown][] | null> };

/**
 * Runs a variadic script. On a cluster, ioredis' auto-pipelining groups a call by the slot
 * of its first argument, which here is numkeys, not a key, and the group's pipeline then
 * fails when the keys lie elsewhere; a pipeline of its own is routed by the keys.
 */
export async function runVariadic(redis: Client, name: ScriptName, fixed: number, keys: string[], argv: Arg[]): Promise<unknown> {
  const args = variadicArgs(fixed, keys, argv);
  if (!redis.isCluster) return redis[name](...args);
  const pipeline = redis.pipeline() as unknown as ScriptPipeline;
  pipeline[name](...args);
  const [[err, reply]] = (await pipeline.exec()) ?? [[new Error(`${name}: pipeline discarded`), null]];
  if (err) throw err;
  return reply;
}
