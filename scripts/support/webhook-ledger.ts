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
  duplicates: number;
  unexpected: string[];
  outOfOrder: string[];
  /** Webhook type -> [expected, received]. */
  byType: Map<string, [number, number]>;
}

/**
 * The webhooks a simulation should cause, against those a receiver got. Expectations and
 * orders are written by the simulated SFUs as they act; the check reads arrival order.
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
    const ids = new Set<string>();
    let duplicates = 0;
    const unexpected: string[] = [];
    received.forEach((e, i) => {
      const subject = webhookSubject(e);
      // the same event twice (same id), or two events for one subject, are both duplicates
      if (ids.has(e.id) || firstArrival.has(subject)) { duplicates++; return; }
      ids.add(e.id);
      firstArrival.set(subject, i);
      if (!this.expected.has(subject)) unexpected.push(subject);
    });
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
    return { expected: this.expected.size, received: firstArrival.size, lost, duplicates, unexpected, outOfOrder, byType };
  }
}
