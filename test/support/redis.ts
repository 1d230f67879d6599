import { LocalCluster } from '../../lib/redis/local-cluster';
import { PrivateRedis, type PrivateRedisOptions } from '../../lib/redis/server';
import { createRedis, type RedisClient, type RedisTarget } from '../../lib/redis/connection';
import { Cluster } from 'ioredis';
import { keySlot } from '../../lib/telemetry/replica-wait';

/**
 * The Redis the integration suites run on: `TEST_REDIS=cluster` runs them on a local
 * Redis Cluster (3 masters, from redis-server), anything else on one redis-server.
 */
export const TEST_REDIS: 'standalone' | 'cluster' = process.env.TEST_REDIS === 'cluster' ? 'cluster' : 'standalone';

export interface UseRedisOptions extends PrivateRedisOptions {
  /**
   * A test that kills, restarts or reconfigures its redis-server, or reads one server's
   * whole state, runs on one redis-server whatever TEST_REDIS says.
   */
  standalone?: boolean;
}

/**
 * A private Redis for one `describe` block: started before its tests, stopped after, so
 * tests can kill and restart it and files can run side by side. A redis-server, or a
 * local cluster under TEST_REDIS=cluster (see UseRedisOptions.standalone).
 */
export function usePrivateRedis(opts: UseRedisOptions = {}) {
  const { standalone, ...serverOptions } = opts;
  const onCluster = TEST_REDIS === 'cluster' && !standalone;
  let server: PrivateRedis | null = null;
  let cluster: LocalCluster | null = null;
  const ctx = {
    topology: onCluster ? 'cluster' as const : 'standalone' as const,
    /** The redis-server (not under TEST_REDIS=cluster, unless the block asked for `standalone`). */
    get server(): PrivateRedis {
      if (!server) throw new Error('this test reads a single redis-server: give usePrivateRedis({ standalone: true })');
      return server;
    },
    get cluster(): LocalCluster | null {
      return cluster;
    },
    /** Where the Redis is, for createRedis, Coordinator and BullMQ. */
    get target(): RedisTarget {
      return cluster ? { cluster: cluster.startupNodes } : ctx.server.url;
    },
    /** The settings a node process is given to use it. */
    env(): Record<string, string> {
      return cluster ? { REDIS_CLUSTER_ADDRESSES: cluster.addresses.join(',') } : { REDIS_URL: ctx.server.url };
    },
    clients: [] as RedisClient[],
    /** The masters of a cluster client, once it has loaded the slots (a new client knows none before its first answer). */
    async masters(client: Cluster) {
      await client.ping();
      return client.nodes('master');
    },
    /** Run before the server stops (mocha runs `after` hooks in the order they were declared). */
    cleanups: [] as (() => Promise<void>)[],
    /** A client with the project's scripts, closed after the block. */
    client(): RedisClient {
      const c = createRedis(ctx.target);
      // tests kill the server on purpose; a failed call still fails the test that made it
      c.on('error', () => {});
      ctx.clients.push(c);
      return c;
    },
    /** Every key matching `pattern`, from every master. */
    async keys(pattern: string, client: RedisClient = ctx.client()): Promise<string[]> {
      if (!(client instanceof Cluster)) return client.keys(pattern);
      return (await Promise.all((await ctx.masters(client)).map((n) => n.keys(pattern)))).flat();
    },
    /** Keys in the whole dataset (every master's). */
    async dbsize(client: RedisClient = ctx.client()): Promise<number> {
      if (!(client instanceof Cluster)) return client.dbsize();
      return (await Promise.all((await ctx.masters(client)).map((n) => n.dbsize()))).reduce((a, b) => a + b, 0);
    },
    /** A digest of the whole dataset (every master's): equal before and after = nothing written. */
    async digest(client: RedisClient = ctx.client()): Promise<string> {
      if (!(client instanceof Cluster)) return String(await client.call('DEBUG', 'DIGEST'));
      const masters = (await ctx.masters(client)).sort((a, b) => (a.options.port ?? 0) - (b.options.port ?? 0));
      return (await Promise.all(masters.map((n) => n.call('DEBUG', 'DIGEST')))).join(',');
    },
    /** Empties every master. */
    async flushAll(client: RedisClient = ctx.client()): Promise<void> {
      if (!(client instanceof Cluster)) { await client.flushall(); return; }
      await Promise.all((await ctx.masters(client)).map((n) => n.flushall()));
    },
  };
  before(async () => {
    if (onCluster) {
      cluster = await LocalCluster.start({ replicasPerMaster: 0, debugCommands: serverOptions.debugCommands });
    } else {
      server = await PrivateRedis.start(serverOptions);
    }
  });
  after(async () => {
    for (const fn of ctx.cleanups.reverse()) await fn();
    await Promise.all(ctx.clients.map((c) => c.quit().catch(() => c.disconnect())));
    await server?.stop();
    await cluster?.stop();
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

/** What Redis Cluster hashes for a key's slot: its hash tag (first '{' to the next '}', if not empty), else the whole key. */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/** Redis Cluster's hash slot of a key (CRC16/XMODEM of its hash tag), worked out here: no cluster needed. */
export function slotOf(key: string): number {
  return keySlot(hashTagOf(key));
}
