import type { WebhookEvent } from '@livekit/protocol';

/**
 * Where the telemetry service hands the webhooks it raises (LiveKit's QueuedNotifier).
 *
 * `queueNotify` resolves only once the event is durably queued (in Redis) for every
 * configured URL. It stamps `id` (`EV_…`) and `createdAt` (unix seconds) when the event
 * has none; an event that already carries an `id` keeps it and its `createdAt`, and
 * queueing an id that was already queued is a no-op, so a relay that repeats itself
 * after a crash never delivers twice.
 */
export interface WebhookNotifier {
  queueNotify(event: WebhookEvent): Promise<void>;
}

/** A notifier that records what it was given: for tests of callers, no network. */
export class RecordingNotifier implements WebhookNotifier {
  readonly events: WebhookEvent[] = [];
  private readonly seen = new Set<string>();
  private counter = 0;

  async queueNotify(event: WebhookEvent): Promise<void> {
    if (!event.id) event.id = `EV_rec${++this.counter}`;
    if (!event.createdAt) event.createdAt = BigInt(Math.floor(Date.now() / 1000));
    if (this.seen.has(event.id)) return;
    this.seen.add(event.id);
    this.events.push(event);
  }

  /** Event names in the order queued. */
  names(): string[] {
    return this.events.map((e) => e.event);
  }

  /**
   * Forgets the events recorded (between tests), not the ids already queued: an id queued
   * again after a clear is still not recorded twice, as the notifier's contract says.
   */
  clear(): void {
    this.events.length = 0;
  }
}

/** No webhook URL configured: nothing to send (LiveKit's notifier is nil then). */
export class NullNotifier implements WebhookNotifier {
  async queueNotify(): Promise<void> {}
}
