import type { FastifyInstance } from 'fastify';
import { loadOptions } from '../../lib/config/options';
import { loadWebhookOptions } from '../../lib/config/webhooks';
import { Coordinator } from '../../lib/coordinator';
import { buildServer } from '../../lib/http/server';
import { createLogger } from '../../lib/log';
import type { RedisTarget } from '../../lib/redis/connection';
import { API_KEY, API_SECRET } from './receiver';
import { sfuToken } from './http';

/** A node of the operator API tests: on `target`, sending to `url`, connected (not started), and its API. */
export async function webhookOpsNode(target: RedisTarget, url: string, nodeId: string, maxAttempts: number): Promise<{ coordinator: Coordinator; app: FastifyInstance }> {
  const coordinator = new Coordinator({
    redis: target,
    options: loadOptions({ REGISTRY_SHARDS: '4', NODE_ID: nodeId }),
    log: createLogger('silent'),
    webhooks: { ...loadWebhookOptions({ WEBHOOK_URLS: url, API_KEY, API_SECRET, WEBHOOK_MAX_ATTEMPTS: String(maxAttempts) }), baseBackoffMs: 50, maxBackoffMs: 100 },
  });
  await coordinator.connect();
  return { coordinator, app: buildServer(coordinator, { apiKey: API_KEY, apiSecret: API_SECRET, maxBodyBytes: 1 << 20 }, createLogger('silent')) };
}

/** A token an operator's script sends (10 minutes). */
export const operatorToken = () => sfuToken('operator', '10m');
