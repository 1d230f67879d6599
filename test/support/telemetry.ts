import { loadOptions } from '../../lib/config/options';
import { Coordinator } from '../../lib/coordinator';
import { createLogger } from '../../lib/log';
import type { TelemetryService } from '../../lib/telemetry/types';
import { RecordingAnalytics, RecordingNotifier } from './fakes';
import { usePrivateRedis } from './redis';

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
    ctx.coordinator = new Coordinator({
      redis: redis.target,
      options: loadOptions({ REGISTRY_SHARDS: '4', NODE_ID: 'test-node', ...env }),
      log: createLogger('silent'),
      notifier: ctx.notifier,
      analytics: ctx.analytics,
    });
    ctx.service = ctx.coordinator.service;
  });
  redis.cleanups.push(() => ctx.coordinator.close());
  return ctx;
}
