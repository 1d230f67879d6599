import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type Redis from 'ioredis';

/**
 * The one loader of `lua/`: each `name-<numkeys>.lua` becomes a command `redis.name(...)`.
 * ioredis sends it by EVALSHA and, on NOSCRIPT (a restarted Redis forgot it), sends the
 * source once and goes back to EVALSHA, also inside pipelines.
 */
export const LUA_DIR = path.resolve(__dirname, '..', '..', 'lua');

const SCRIPT_FILE = /^([A-Za-z]+)-(\d+)\.lua$/;
const INCLUDE = /^--- @include "([^"]+)"\s*$/gm;

type Arg = string | number | Buffer;
type ScriptCommand = (...args: Arg[]) => Promise<unknown>;

export const SCRIPT_NAMES = [
  'openWorker', 'markConnected', 'releaseWorker', 'dueForReaping', 'reapWorker',
  'touchNode', 'lapsedNodes', 'expireNodeGuards', 'forgetNode',
  'bufferStats', 'claimStats', 'renewStats', 'finishStats', 'commitStats', 'rejectStats', 'pendingLeaves', 'ackLeave',
  'enqueueWebhook', 'advanceWebhookLane', 'claimEvents', 'settleEvents',
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];
export type ScriptCommands = Record<ScriptName, ScriptCommand>;

export interface ScriptSource {
  name: string;
  numberOfKeys: number;
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
    sources.push({ name: m[1], numberOfKeys: Number(m[2]), lua });
  }
  const names = new Set(sources.map((s) => s.name));
  const missing = SCRIPT_NAMES.filter((n) => !names.has(n));
  const unknown = [...names].filter((n) => !(SCRIPT_NAMES as readonly string[]).includes(n));
  if (missing.length || unknown.length) {
    throw new Error(`lua/ and SCRIPT_NAMES disagree: missing ${missing.join(',') || '-'}, unlisted ${unknown.join(',') || '-'}`);
  }
  cache = sources;
  return sources;
}

export function loadScripts(redis: Redis): void {
  for (const s of scriptSources()) {
    redis.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
  }
}
