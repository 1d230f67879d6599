import { expect } from 'chai';
import fc from 'fast-check';
import type { RedisClient } from '../../lib/redis/connection';
import { KeySpace } from '../../lib/redis/keys';
import { LaneAppends, MAX_APPENDS_PER_CALL, type Appended } from '../../lib/webhooks/lane-appends';
import { usePrivateRedis } from '../support/redis';

/** Counts the enqueue script calls a client makes (and their events). */
function countEnqueues(db: RedisClient): { calls: number; events: number } {
  const counts = { calls: 0, events: 0 };
  const enqueue = db.enqueueWebhook.bind(db);
  (db as unknown as { enqueueWebhook: (...a: (string | number)[]) => Promise<unknown> }).enqueueWebhook = (...args: (string | number)[]) => {
    counts.calls++;
    counts.events += (args.length - 6) / 2;
    return enqueue(...(args as Parameters<typeof enqueue>));
  };
  return counts;
}

/**
 * The events a node queues for one lane in one tick go as one enqueue call, each answered as
 * if alone: checked against a model of the lane (a FIFO of first-seen ids and its run).
 */
describe('webhook lane appends', function () {
  this.timeout(90_000);
  const redis = usePrivateRedis();
  let prefix = 0;

  it('a tick\'s events of one lane go as one call (at most MAX_APPENDS_PER_CALL events), lanes never mixed', async () => {
    const db = redis.client();
    const counts = countEnqueues(db);
    const appends = new LaneAppends(db, new KeySpace(`la${++prefix}`, 4), 60_000);
    const n = MAX_APPENDS_PER_CALL * 2 + 1;
    const answers = await Promise.all([
      ...Array.from({ length: n }, (_, i) => appends.append('one', `e${i}`, `d${i}`, () => 'run.one')),
      appends.append('other', 'x', 'dx', () => 'run.other'),
    ]);
    expect(counts).to.deep.equal({ calls: 3 + 1, events: n + 1 });
    expect(answers.slice(0, n).map((a) => a.position)).to.deep.equal(Array.from({ length: n }, (_, i) => i));
    expect(answers.map((a) => a.started)).to.deep.equal([true, ...Array(n - 1).fill(false), true]);
    expect(new Set(answers.slice(0, n).map((a) => a.runId))).to.deep.equal(new Set(['run.one']));
    expect(answers[n].runId).to.equal('run.other');
    // a lone event in a later tick: its own call, the run under way
    const later = await appends.append('one', 'late', 'dl', () => 'run.two');
    expect(later).to.include({ position: n, runId: 'run.one', started: false });
    expect(counts.calls).to.equal(5);
  });

  it('answers and the lanes match one event at a time, whatever the ticks, lanes and duplicates', async () => {
    const db = redis.client();
    // ticks of events: (lane, id) pairs drawn from small sets, so duplicates and shared lanes are common
    const tick = fc.array(fc.record({ lane: fc.constantFrom('a', 'b', 'c'), id: fc.constantFrom('1', '2', '3', '4', '5', '6') }), { minLength: 1, maxLength: 12 });
    await fc.assert(fc.asyncProperty(fc.array(tick, { minLength: 1, maxLength: 5 }), async (ticks) => {
      const keys = new KeySpace(`lp${++prefix}`, 4);
      const appends = new LaneAppends(db, keys, 60_000);
      // the model: per lane, its FIFO of ids (ids are never refused twice over: seen or queued) and its run
      const fifo = new Map<string, string[]>();
      const run = new Map<string, string>();
      let t = 0;
      for (const events of ticks) {
        t++;
        const answers: Appended[] = await Promise.all(events.map((e) => appends.append(e.lane, `${e.lane}.${e.id}`, `data ${e.id}`, () => `run.${e.lane}.${t}`)));
        events.forEach((e, i) => {
          const lane = fifo.get(e.lane) ?? [];
          fifo.set(e.lane, lane);
          const id = `${e.lane}.${e.id}`;
          const hadRun = run.get(e.lane) ?? '';
          if (lane.includes(id)) {
            expect(answers[i]).to.deep.include({ position: -1, started: false, runId: hadRun });
            return;
          }
          lane.push(id);
          if (!hadRun) run.set(e.lane, `run.${e.lane}.${t}`);
          expect(answers[i]).to.deep.include({ position: lane.length - 1, started: !hadRun, runId: run.get(e.lane) });
        });
      }
      for (const [lane, ids] of fifo) {
        const k = keys.webhookLane(lane);
        expect(await db.lrange(k.fifo, 0, -1)).to.deep.equal(ids);
        expect(await db.hget(k.run, 'job')).to.equal(run.get(lane));
        for (const id of ids) expect(await db.hget(k.events, id)).to.equal(`data ${id.split('.')[1]}`);
        expect((await db.zrange(k.seen, 0, -1)).sort()).to.deep.equal([...ids].sort());
      }
    }), { numRuns: 60 });
  });
});
