/**
 * A coordinator node as its own process, for fleet tests: the real Coordinator with its
 * periodic work, analytics to Redis Streams, and webhooks recorded in a Redis hash
 * (`test:webhooks`, id -> JSON; a known id is not recorded again, as the notifier
 * contract says). Configured by the environment, like `npm start`.
 */
import type { WebhookEvent } from '@livekit/protocol';
import { loadOptions } from '../../lib/config/options';
import { Coordinator } from '../../lib/coordinator';
import { createLogger } from '../../lib/log';
import { createRedis, type RedisClient } from '../../lib/redis/connection';
import { newId } from '../../lib/ids';
import type { WebhookNotifier } from '../../lib/telemetry/notifier';

class RedisHashNotifier implements WebhookNotifier {
  constructor(private readonly redis: RedisClient) {}
  async queueNotify(event: WebhookEvent): Promise<void> {
    if (!event.id) event.id = newId('EV_');
    if (!event.createdAt) event.createdAt = BigInt(Math.floor(Date.now() / 1000));
    await this.redis.hsetnx('test:webhooks', event.id, event.toJsonString());
  }
}

async function main() {
  const options = loadOptions();
  const target = options.redis!;
  const log = createLogger(options.logLevel, { node: options.coordinatorId });
  const recorder = createRedis(target);
  const coordinator = new Coordinator({
    redis: target, options, log, notifier: new RedisHashNotifier(recorder),
    periodic: { lockDurationMs: 2000, leaveSweepAgeMs: 1000 },
  });
  await coordinator.start();
  process.send?.('ready');
  process.on('SIGTERM', async () => {
    await coordinator.close();
    await recorder.quit();
    process.exit(0);
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
