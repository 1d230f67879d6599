import { ConfigError, loadOptions } from '../config/options';
import { createLogger } from '../log';
import { createRedis } from '../redis/connection';
import { WorkerRegistry } from '../registry/registry';
import { resolveRedis } from './redis-target';

/** `npm start`: one coordinator node. */
async function main() {
  let options;
  try {
    options = loadOptions();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`configuration error: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  const log = createLogger(options.logLevel);
  const target = await resolveRedis(options, log);
  const redis = createRedis(target.url);
  const registry = new WorkerRegistry(redis, { prefix: options.redisPrefix, shards: options.registryShards });
  await redis.ping();
  log.info({ prefix: registry.keys.prefix, shards: registry.keys.shards }, 'registry ready');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    await redis.quit().catch(() => redis.disconnect());
    await target.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
