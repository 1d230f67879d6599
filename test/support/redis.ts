import { PrivateRedis, type PrivateRedisOptions } from '../../lib/redis/server';
import { createRedis, type RedisClient } from '../../lib/redis/connection';

/**
 * A private redis-server for one `describe` block: started before its tests, stopped
 * after, so tests can kill and restart it and files can run side by side.
 */
export function usePrivateRedis(extraArgs: PrivateRedisOptions = {}) {
  const ctx = {
    server: null as unknown as PrivateRedis,
    clients: [] as RedisClient[],
    /** Run before the server stops (mocha runs `after` hooks in the order they were declared). */
    cleanups: [] as (() => Promise<void>)[],
    /** A client with the project's scripts, closed after the block. */
    client(): RedisClient {
      const c = createRedis(ctx.server.url);
      // tests kill the server on purpose; a failed call still fails the test that made it
      c.on('error', () => {});
      ctx.clients.push(c);
      return c;
    },
  };
  before(async () => {
    ctx.server = await PrivateRedis.start(extraArgs);
  });
  after(async () => {
    for (const fn of ctx.cleanups.reverse()) await fn();
    await Promise.all(ctx.clients.map((c) => c.quit().catch(() => c.disconnect())));
    await ctx.server.stop();
  });
  return ctx;
}

/** Polls `check` until it returns a truthy value or the deadline passes. */
export async function until<T>(check: () => Promise<T> | T, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
