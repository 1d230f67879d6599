import { loadOptions } from '../../lib/config/options';
import { Coordinator, type CoordinatorParts } from '../../lib/coordinator';
import { createLogger } from '../../lib/log';
import type { TelemetryService } from '../../lib/telemetry/types';
import { RecordingAnalytics, RecordingNotifier } from './fakes';
import { usePrivateRedis } from './redis';

/**
 * A Coordinator on a `describe` block's Redis, closed before that Redis stops: the
 * settings `env` (as loadOptions reads them), a silent log, a RecordingNotifier unless
 * `parts` gives one. Made in a `before` hook or a test, once the Redis is up.
 */
export function coordinatorOn(redis: ReturnType<typeof usePrivateRedis>, env: Record<string, string> = {}, parts: Partial<CoordinatorParts> = {}): Coordinator {
  const coordinator = new Coordinator({
    redis: redis.target, options: loadOptions(env), log: createLogger('silent'), notifier: new RecordingNotifier(), ...parts,
  });
  redis.cleanups.push(() => coordinator.close());
  return coordinator;
}

/**
 * A real TelemetryService on a private redis-server, with recording fakes for its two
 * outputs (webhooks, analytics), for one `describe` block. Each test starts with both
 * fakes cleared. No periodic jobs run: tests call flushStats() themselves.
 */
export function useTelemetry(env: Record<string, string> = {}) {
  const redis = usePrivateRedis();
  const ctx = {
    /** The Redis it runs on (a cluster under TEST_REDIS=cluster). */
    redis,
    coordinator: null as unknown as Coordinator,
    service: null as unknown as TelemetryService,
    analytics: new RecordingAnalytics(),
    notifier: new RecordingNotifier(),
  };
  beforeEach(() => {
    ctx.analytics.clear();
    ctx.notifier.clear();
  });
  before(async () => {
    ctx.coordinator = coordinatorOn(redis, { REGISTRY_SHARDS: '4', NODE_ID: 'test-node', ...env }, { notifier: ctx.notifier, analytics: ctx.analytics });
    ctx.service = ctx.coordinator.service;
  });
  return ctx;
}
