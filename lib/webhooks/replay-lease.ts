import { newId } from '../ids';
import type { RedisClient } from '../redis/connection';

/** How long a replay's lease lasts unless renewed: what a node that dies mid-replay holds the next one up. */
const REPLAY_LEASE_MS = 30_000;

/** A replay of the URL's dead letters is under way (on any node): a later request may go. */
export class ReplayUnderWayError extends Error {
  constructor(readonly retryAfterMs: number) {
    super(`a replay of this URL's dead letters is under way; ask again once it ended (within ${Math.ceil(retryAfterMs / 1000)} s)`);
  }
}

/**
 * The lease a replay holds on its URL (lua/leaseWebhookReplay-1.lua): one replay of a URL at
 * a time, fleet-wide, so that two never queue a dead letter twice. Renewed as the replay
 * goes; a replay that lost it (it ran past the lease and another took it) stops before it
 * re-queues anything.
 */
export class ReplayLease {
  private readonly token = newId('RP_');

  constructor(private readonly redis: RedisClient, private readonly key: string) {}

  take(): Promise<void> {
    return this.ask('take');
  }

  renew(): Promise<void> {
    return this.ask('renew');
  }

  async end(): Promise<void> {
    await this.redis.leaseWebhookReplay(this.key, 'end', this.token, 0);
  }

  private async ask(mode: 'take' | 'renew'): Promise<void> {
    const [held, leftMs] = (await this.redis.leaseWebhookReplay(this.key, mode, this.token, REPLAY_LEASE_MS)) as [number, number];
    if (held !== 1) throw new ReplayUnderWayError(leftMs > 0 ? leftMs : 1000);
  }
}
