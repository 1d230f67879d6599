import { ConfigError, loadOptions, type Options } from '../config/options';
import { Coordinator } from '../coordinator';
import { createLogger } from '../log';
import { NullNotifier } from '../webhooks/notifier';
import { resolveRedis } from './redis-target';

/** `npm start`: one coordinator node. */
async function main() {
  let options: Options;
  try {
    options = loadOptions();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`configuration error: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
  const log = createLogger(options.logLevel, { node: options.nodeId });
  const target = await resolveRedis(options, log);
  log.warn('no webhook delivery configured: webhooks are not sent (as LiveKit without webhook URLs)');
  const coordinator = new Coordinator({ redisUrl: target.url, options, log, notifier: new NullNotifier() });
  await coordinator.start();
  log.info({
    prefix: options.redisPrefix, shards: options.registryShards, flushIntervalMs: options.flushIntervalMs,
    workerCleanupWaitMs: options.workerCleanupWaitMs, nodeLeaseMs: options.nodeLeaseMs,
  }, 'coordinator node running: flush, reap and node expiry scheduled on BullMQ');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: closing the BullMQ worker so its jobs go to other nodes');
    await coordinator.close();
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
