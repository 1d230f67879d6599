import type { FastifyInstance } from 'fastify';
import { SignJWT } from 'jose';
import { TELEMETRY_GRANT } from '../../lib/http/auth';
import { loadOptions } from '../../lib/config/options';
import { Coordinator } from '../../lib/coordinator';
import { buildServer } from '../../lib/http/server';
import { createLogger } from '../../lib/log';
import type { RedisClient } from '../../lib/redis/connection';
import { RecordingNotifier } from './fakes';
import { usePrivateRedis } from './redis';

export const API_KEY = 'api-key';
export const API_SECRET = 'api-secret-long-enough-for-hs256-signing';

/**
 * The HTTP API in-process, on a private redis-server, for one `describe` block: a real
 * Coordinator (analytics to Redis Streams, webhooks recorded), no periodic work running, so
 * Redis changes only through the requests a test makes, and the webhooks it records are
 * cleared before each test. `snapshot()` digests every key.
 */
export function useApiNode(env: Record<string, string> = {}) {
  const redis = usePrivateRedis({ debugCommands: true });
  const ctx = {
    /** The Redis it runs on (a cluster under TEST_REDIS=cluster). */
    redis,
    coordinator: null as unknown as Coordinator,
    app: null as unknown as FastifyInstance,
    notifier: new RecordingNotifier(),
    admin: null as unknown as RedisClient,
    token: '',
    /** POSTs a batch (an object, or raw text) and returns status and parsed answer. */
    async post(body: unknown, raw?: string): Promise<{ status: number; body: { error?: { code: string; message: string; index?: number } } & Record<string, unknown> }> {
      const res = await ctx.app.inject({
        method: 'POST', url: '/v1/telemetry', payload: raw ?? JSON.stringify(body),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.token}` },
      });
      let parsed: Record<string, unknown> = {};
      try { parsed = JSON.parse(res.body); } catch { /* not JSON */ }
      return { status: res.statusCode, body: parsed };
    },
    /** Redis's digest of its whole dataset (every master's): equal before and after = nothing written. */
    async snapshot(): Promise<string> {
      return redis.digest(ctx.admin);
    },
  };
  before(async () => {
    ctx.coordinator = new Coordinator({
      redis: redis.target,
      options: loadOptions({ REGISTRY_SHARDS: '4', NODE_ID: 'api-node', ...env }),
      log: createLogger('silent'),
      notifier: ctx.notifier,
    });
    await ctx.coordinator.connect();
    ctx.app = buildServer(ctx.coordinator, { apiKey: API_KEY, apiSecret: API_SECRET, maxBodyBytes: 4 << 20 }, createLogger('silent'));
    ctx.admin = redis.client();
    const now = Math.floor(Date.now() / 1000);
    ctx.token = await new SignJWT({ ...TELEMETRY_GRANT }).setProtectedHeader({ alg: 'HS256' }).setIssuer(API_KEY).setExpirationTime(now + 3600).sign(new TextEncoder().encode(API_SECRET));
  });
  beforeEach(() => ctx.notifier.clear());
  redis.cleanups.push(async () => {
    await ctx.app.close();
    await ctx.coordinator.close();
  });
  return ctx;
}
