import { ParticipantInfo, Room, WebhookEvent } from '@livekit/protocol';
import pino from 'pino';
import type { KeySpace } from '../../lib/redis/keys';
import { WebhookDelivery } from '../../lib/webhooks/delivery';
import { WEBHOOK_DEFAULTS, type WebhookOptions } from '../../lib/webhooks/options';
import { API_KEY, API_SECRET } from './receiver';
import type { usePrivateRedis } from './redis';

/**
 * Delivery instances for the tests of one describe block, with fast retries and short
 * parking. Each test's instances are closed after it, so no other test's worker takes
 * its jobs.
 */
export function useDeliveries(redis: ReturnType<typeof usePrivateRedis>, keys: KeySpace) {
  let made: WebhookDelivery[] = [];
  afterEach(async () => {
    for (const d of made) await d.close();
    made = [];
  });
  return {
    async make(urls: string[], extra: Partial<WebhookOptions> = {}, start = true): Promise<WebhookDelivery> {
      const d = new WebhookDelivery(redis.client(), redis.target, keys, {
        ...WEBHOOK_DEFAULTS, urls, includeEvents: [], excludeEvents: [], apiKey: API_KEY, apiSecret: API_SECRET,
        timeoutMs: 2000, maxAttempts: 6, baseBackoffMs: 50, maxBackoffMs: 400, stuckRunMs: 300, ...extra,
      }, pino({ level: 'silent' }));
      made.push(d);
      if (start) await d.start({ concurrency: 50 });
      return d;
    },
    /** This test's instances so far. */
    made(): WebhookDelivery[] {
      return made;
    },
    /** Dead letters counted by this test's instances. */
    deadLetters(): number {
      return made.reduce((sum, d) => sum + d.metrics.deadLetters, 0);
    },
  };
}

/** A participant_joined webhook of the room named `room` (sid `RM_<room>`), by the participant `who`. */
export const joined = (room: string, who: string) =>
  new WebhookEvent({ event: 'participant_joined', room: new Room({ name: room, sid: `RM_${room}` }), participant: new ParticipantInfo({ identity: who }) });
