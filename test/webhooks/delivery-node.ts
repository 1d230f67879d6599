/** A node process that only delivers webhooks, for the crash test (configured by env). */
import pino from 'pino';
import { loadOptions } from '../../lib/config/options';
import { createRedis } from '../../lib/redis/connection';
import { KeySpace } from '../../lib/redis/keys';
import { WebhookDelivery } from '../../lib/webhooks/delivery';
import { WEBHOOK_DEFAULTS } from '../../lib/webhooks/options';
import { API_KEY, API_SECRET } from './receiver';

async function main() {
  const target = loadOptions().redis!;
  const d = new WebhookDelivery(createRedis(target), target, new KeySpace('tc', 4), {
    ...WEBHOOK_DEFAULTS, urls: [process.env.TARGET!], includeEvents: [], excludeEvents: [], apiKey: API_KEY, apiSecret: API_SECRET,
    timeoutMs: 2000, baseBackoffMs: 50, maxBackoffMs: 400, stuckRunMs: 1000,
  }, pino({ level: 'silent' }));
  await d.start({ concurrency: 20, lockDurationMs: 1000 });
  process.send?.('ready');
}

main().catch((e) => { console.error(e); process.exit(1); });
