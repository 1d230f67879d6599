import path from 'node:path';
import type { Logger } from 'pino';
import type { Options } from '../config/options';
import { PrivateRedis, REDIS_INSTALL_HINT, redisServerAvailable } from '../redis/server';

/**
 * Where the node's Redis is: REDIS_URL, or else a private redis-server this process runs
 * (data in .data/redis, append-only, so a restart keeps the state) and stops on exit.
 */
export async function resolveRedis(options: Options, log: Logger): Promise<{ url: string; stop(): Promise<void> }> {
  if (options.redisUrl) return { url: options.redisUrl, stop: async () => {} };
  if (!redisServerAvailable()) throw new Error(`REDIS_URL is not set and ${REDIS_INSTALL_HINT}`);
  const dir = path.resolve('.data', 'redis');
  const server = await PrivateRedis.start({ dir, appendOnly: true });
  log.info({ port: server.port, dir }, 'started a private redis-server (REDIS_URL not set)');
  return { url: server.url, stop: () => server.stop() };
}
