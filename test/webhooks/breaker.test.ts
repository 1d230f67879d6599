import { expect } from 'chai';
import { KeySpace } from '../../lib/redis/keys';
import { until, usePrivateRedis } from '../support/redis';
import { joined, useDeliveries } from './harness';
import { TestReceiver } from './receiver';

const PROBE_EVERY_MS = 1000;
const PAUSED_INTERVALS = 4;

/**
 * The circuit breaker: a URL failing everything for WEBHOOK_BREAK_AFTER is paused, its
 * lanes hold, one probe goes per WEBHOOK_PROBE_EVERY, and the first success resumes every
 * lane in order, nothing dropped.
 */
describe('webhook circuit breaker', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  const keys = new KeySpace('tc', 4);
  const deliveries = useDeliveries(redis, keys);

  it('pauses a dead URL: about one attempt per probe interval; the first success sends every held event, in order, no dead letter', async () => {
    const rx = new TestReceiver();
    await rx.start();
    let down = true;
    let requests = 0;
    rx.answer = () => {
      requests++;
      return down ? 500 : 200;
    };
    try {
      // two nodes deliver: the pause and the probe slot are the fleet's, not a node's
      const opts = { breakAfterMs: 1000, probeEveryMs: PROBE_EVERY_MS, maxAttempts: 8 };
      const a = await deliveries.make([rx.url], opts);
      const b = await deliveries.make([rx.url], opts);
      const rooms = ['r1', 'r2', 'r3'];
      const before = ['a', 'b', 'c'];
      for (const who of before) for (const room of rooms) await a.queueNotify(joined(room, who));

      await until(async () => (await a.operations.report())[0].paused, 'the URL to be paused', 15_000);
      const paused = (await a.operations.report())[0];
      expect(paused.failingSince, 'failing since').to.be.a('string');
      expect(paused.lastError?.status).to.equal(500);
      expect(await b.operations.pausedUrls()).to.equal(1);
      expect(a.metrics.pauses + b.metrics.pauses, 'pauses').to.equal(1);

      // events queued during the pause wait behind the held ones
      for (const room of rooms) await b.queueNotify(joined(room, 'd'));
      // The issue asks for the attempts a dead receiver gets in a paused window: counted over
      // PAUSED_INTERVALS probe intervals, one probe each for the whole fleet, and the bound
      // leaves room for a slot boundary at each end of the window on a busy machine.
      const atStart = requests;
      const probesAtStart = a.metrics.probes + b.metrics.probes;
      await new Promise((r) => setTimeout(r, PAUSED_INTERVALS * PROBE_EVERY_MS));
      const attempts = requests - atStart;
      expect(attempts, 'attempts in the paused window').to.be.at.most(PAUSED_INTERVALS + 2);
      expect(attempts, 'probes in the paused window').to.be.at.least(1);
      expect(a.metrics.probes + b.metrics.probes - probesAtStart, 'probes counted').to.be.at.least(1);
      expect(rx.received).to.have.length(0);

      down = false;
      const all = [...before, 'd'];
      await until(() => rooms.every((room) => rx.roomSequence(room).length === all.length), 'every held event after the resume', 20_000);
      for (const room of rooms) expect(rx.roomSequence(room), room).to.deep.equal(all);
      expect(deliveries.deadLetters(), 'dead letters').to.equal(0);
      expect(a.metrics.resumes + b.metrics.resumes, 'resumes').to.equal(1);
      // a delivery's latency is recorded just after it (with others of the moment, in one call)
      const resumed = await until(async () => {
        const r = (await a.operations.report())[0];
        return r.latencyMs.samples >= rooms.length * all.length ? r : null;
      }, 'every delivery\'s latency recorded');
      expect(resumed).to.deep.include({ paused: false, failingSince: null, deadLetters: 0 });
      await until(async () => (await a.operations.report())[0].queued === 0, 'the lanes to drain');
    } finally {
      await rx.stop();
    }
  });
});
