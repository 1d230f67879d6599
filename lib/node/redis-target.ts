import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import type { Logger } from 'pino';
import type { Options } from '../config/options';
import type { RedisTarget } from '../redis/connection';
import { PrivateRedis, processAlive, REDIS_INSTALL_HINT, redisServerAvailable } from '../redis/server';

/**
 * Where the node's Redis is: REDIS_URL or Sentinel, or else the private redis-server of this folder
 * (data in .data/redis, append-only, so a restart keeps the state). The first node started
 * here starts it; a second `npm start` in the same folder joins it (found through
 * .data/redis/server.json), so two terminals make a two-node fleet; the last node to stop
 * stops it.
 */
export async function resolveRedis(options: Options, log: Logger): Promise<{ target: RedisTarget; stop(): Promise<void> }> {
  if (options.redis) return { target: options.redis, stop: async () => {} };
  if (!redisServerAvailable()) throw new Error(`REDIS_URL is not set and ${REDIS_INSTALL_HINT}`);
  const dir = path.resolve('.data', 'redis');
  mkdirSync(dir, { recursive: true });
  const nodes = `${options.redisPrefix}:private-redis:nodes`;
  const url = await holdingLock(dir, async () => {
    let port = await runningServer(dir);
    if (port) {
      log.info({ port, dir }, 'joined the private redis-server another node started here (REDIS_URL not set)');
    } else {
      const server = await PrivateRedis.start({ dir, appendOnly: true, detached: true });
      port = server.port;
      writeFileSync(path.join(dir, 'server.json'), JSON.stringify({ port, pid: server.pid }));
      log.info({ port, dir }, 'started a private redis-server (REDIS_URL not set)');
    }
    const u = `redis://127.0.0.1:${port}`;
    await withClient(u, (c) => c.hset(nodes, String(process.pid), Date.now()));
    return u;
  });
  return {
    target: url,
    stop: () => holdingLock(dir, () => withClient(url, async (c) => {
      await c.hdel(nodes, String(process.pid));
      // a node that died without stopping still counts until its process is gone
      for (const pid of await c.hkeys(nodes)) if (!processAlive(Number(pid))) await c.hdel(nodes, pid);
      if ((await c.hlen(nodes)) > 0) return;
      rmSync(path.join(dir, 'server.json'), { force: true });
      // the last node here stops it (append-only, fsync always: nothing is lost)
      await c.shutdown().catch(() => {});
      log.info({ dir }, 'stopped the private redis-server (the last node here)');
    })),
  };
}

async function withClient<T>(url: string, work: (c: Redis) => Promise<T>): Promise<T> {
  const c = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => null, lazyConnect: true });
  c.on('error', () => {});
  try {
    await c.connect();
    return await work(c);
  } finally {
    c.disconnect();
  }
}

/** The port of this folder's redis-server, if one answers there with this data directory. */
async function runningServer(dir: string): Promise<number | null> {
  let port: number;
  try {
    port = Number((JSON.parse(readFileSync(path.join(dir, 'server.json'), 'utf8')) as { port: number }).port);
  } catch {
    return null;
  }
  const answered = await withClient(`redis://127.0.0.1:${port}`, async (c) => (await c.config('GET', 'dir')) as string[]).catch(() => null);
  return answered && path.resolve(answered[1]) === dir ? port : null;
}

/** One node at a time looks for, starts or stops the folder's redis-server (a lock file; a dead holder's lock is taken over). */
async function holdingLock<T>(dir: string, work: () => Promise<T>): Promise<T> {
  const lock = path.join(dir, 'start.lock');
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let holder = NaN;
      try { holder = Number(readFileSync(lock, 'utf8')); } catch { /* released meanwhile */ }
      if (Number.isInteger(holder) && holder > 0 && !processAlive(holder)) rmSync(lock, { force: true });
      else if (Date.now() > deadline) throw new Error(`${lock} is held by process ${holder}: another node is starting or stopping the private redis-server`);
      else await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lock, { force: true });
  }
}
