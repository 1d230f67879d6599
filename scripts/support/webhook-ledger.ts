import type { WebhookEvent } from 'livekit-server-sdk';

/** What one webhook is about: its type and the room, participant or track it names. */
export function webhookSubject(e: WebhookEvent): string {
  const room = e.room?.name ?? '';
  if (e.event.startsWith('track_')) return `${e.event}|${room}|${e.track?.sid ?? ''}`;
  if (e.event.startsWith('participant_')) return `${e.event}|${room}|${e.participant?.identity ?? ''}`;
  return `${e.event}|${room}`;
}

export interface LedgerReport {
  expected: number;
  received: number;
  lost: string[];
  /** Extra webhook ids: one event (subject) delivered under two or more different ids. */
  duplicates: number;
  /** The subjects delivered under more than one id. */
  duplicated: string[];
  /** Arrivals of a webhook id already received: an allowed at-least-once redelivery. */
  redelivered: number;
  unexpected: string[];
  outOfOrder: string[];
  /** Webhook type -> [expected, received]. */
  byType: Map<string, [number, number]>;
}

/**
 * The webhooks a simulation should cause, against those a receiver got. Expectations and
 * orders are written by the simulated SFUs as they act; the check reads arrival order.
 *
 * Webhook delivery is at least once: the same webhook (same id) arriving again is a
 * redelivery a receiver drops by its id, counted apart. A duplicate is one event raised
 * twice: its subject delivered under two different ids, which no receiver can tell apart.
 */
export class WebhookLedger {
  private readonly expected = new Set<string>();
  /** Pairs [before, after] of subjects that must arrive in this order (same room = same EventKey). */
  private readonly orders: [string, string][] = [];

  expect(subject: string): void {
    this.expected.add(subject);
  }

  mustPrecede(before: string, after: string): void {
    this.orders.push([before, after]);
  }

  get size(): number {
    return this.expected.size;
  }

  check(received: WebhookEvent[]): LedgerReport {
    const firstArrival = new Map<string, number>();
    const idsOf = new Map<string, Set<string>>();
    const ids = new Set<string>();
    let duplicates = 0;
    let redelivered = 0;
    const unexpected: string[] = [];
    received.forEach((e, i) => {
      const subject = webhookSubject(e);
      if (ids.has(e.id)) { redelivered++; return; }
      ids.add(e.id);
      const seen = idsOf.get(subject);
      if (seen) { seen.add(e.id); duplicates++; return; }
      idsOf.set(subject, new Set([e.id]));
      firstArrival.set(subject, i);
      if (!this.expected.has(subject)) unexpected.push(subject);
    });
    const duplicated = [...idsOf].filter(([, s]) => s.size > 1).map(([subject]) => subject);
    const lost = [...this.expected].filter((s) => !firstArrival.has(s));
    const outOfOrder = this.orders
      .filter(([a, b]) => firstArrival.has(a) && firstArrival.has(b) && firstArrival.get(a)! > firstArrival.get(b)!)
      .map(([a, b]) => `${b} before ${a}`);
    const byType = new Map<string, [number, number]>();
    for (const s of this.expected) {
      const t = s.split('|')[0];
      const row = byType.get(t) ?? [0, 0];
      row[0]++;
      byType.set(t, row);
    }
    for (const s of firstArrival.keys()) {
      const t = s.split('|')[0];
      const row = byType.get(t) ?? [0, 0];
      row[1]++;
      byType.set(t, row);
    }
    return { expected: this.expected.size, received: firstArrival.size, lost, duplicates, duplicated, redelivered, unexpected, outOfOrder, byType };
  }
}
