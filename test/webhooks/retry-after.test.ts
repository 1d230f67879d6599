import { expect } from 'chai';
import { retryAfterMs } from '../../lib/webhooks/attempt';
import { ids } from '../support/fixture';
import { until } from '../support/redis';
import { joined, useReceiverDeliveries } from './harness';

/**
 * A receiver that answers 429 or 503 with `Retry-After` is not asked again sooner (the
 * backoff alone retried it after 1 s, then 2 s, ...); a `Retry-After` past the longest
 * backoff waits only that long, so a receiver cannot park its lanes for longer.
 */
describe('webhook Retry-After', function () {
  this.timeout(60_000);
  const { deliveries, rx } = useReceiverDeliveries();

  it('reads delta-seconds and HTTP dates, for 429 and 503 only', () => {
    const now = Date.parse('2026-11-28T12:00:00Z');
    expect(retryAfterMs(429, '2', now)).to.equal(2000);
    expect(retryAfterMs(503, ' 120 ', now)).to.equal(120_000);
    expect(retryAfterMs(503, 'Sat, 28 Nov 2026 12:00:03 GMT', now)).to.equal(3000);
    expect(retryAfterMs(429, 'Sat, 28 Nov 2026 11:59:00 GMT', now), 'a date gone by').to.equal(0);
    for (const v of ['soon', '-1', '1.5', '']) expect(retryAfterMs(429, v, now), JSON.stringify(v)).to.equal(undefined);
    expect(retryAfterMs(429, undefined, now)).to.equal(undefined);
    for (const status of [500, 502, 408, 302, 200]) expect(retryAfterMs(status, '2', now), String(status)).to.equal(undefined);
  });

  it('a 429 with Retry-After: 2 is tried again after 2 s, not after the backoff; the lane stays in order', async () => {
    const room = ids.roomInfo('ra').name;
    const at: Record<string, number[]> = {};
    rx.answer = (ev, attempt) => {
      const who = ev.participant?.identity ?? '';
      (at[who] ??= []).push(Date.now());
      return who === 'p1' && attempt === 1 ? 429 : 200;
    };
    rx.answerHeaders = (ev, attempt) => (ev.participant?.identity === 'p1' && attempt === 1 ? { 'Retry-After': '2' } : {} as Record<string, string>);
    try {
      const d = await deliveries.make([rx.url], { baseBackoffMs: 50, maxBackoffMs: 10_000 });
      for (const who of ['p0', 'p1', 'p2']) await d.queueNotify(joined(room, who));
      await until(() => rx.roomSequence(room).length === 3, 'the three events', 20_000);
      expect(rx.roomSequence(room)).to.deep.equal(['p0', 'p1', 'p2']);
      // the first attempt is stamped as it arrives, before its answer: the wait starts later
      expect(at.p1).to.have.length(2);
      expect(at.p1[1] - at.p1[0], 'ms between the 429 and the next attempt').to.be.at.least(2000);
      expect(at.p2[0]).to.be.at.least(at.p1[1]);
    } finally {
      rx.answerHeaders = () => ({});
    }
  });

  it('a Retry-After of an hour waits only the longest backoff, then delivers', async () => {
    const room = ids.roomInfo('ra-cap').name;
    const at: number[] = [];
    rx.answer = (ev, attempt) => {
      at.push(Date.now());
      return attempt === 1 ? 503 : 200;
    };
    rx.answerHeaders = (_ev, attempt) => (attempt === 1 ? { 'Retry-After': '3600' } : {} as Record<string, string>);
    try {
      const d = await deliveries.make([rx.url], { baseBackoffMs: 50, maxBackoffMs: 1000 });
      await d.queueNotify(joined(room, 'p0'));
      // well inside the test's deadline: capped at 1 s, not an hour
      await until(() => rx.roomSequence(room).length === 1, 'the event, after the capped wait', 20_000);
      expect(at).to.have.length(2);
      expect(at[1] - at[0], 'ms between the 503 and the next attempt').to.be.at.least(1000);
    } finally {
      rx.answerHeaders = () => ({});
    }
  });
});
