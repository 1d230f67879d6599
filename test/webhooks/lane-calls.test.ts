import { expect } from 'chai';
import fc from 'fast-check';
import { KeySpace } from '../../lib/redis/keys';
import type { RedisClient } from '../../lib/redis/connection';
import { LaneCalls, LANES_PER_CALL, type LaneKeys, type LaneMode } from '../../lib/webhooks/lane-calls';
import { usePrivateRedis } from '../support/redis';

const LANES = 3;
const WINDOW_MS = 3_600_000;

type Op =
  | { kind: 'enqueue'; lane: number; event: number }
  | { kind: 'advance'; lane: number; mode: LaneMode; own: boolean; token: string; done: number; stray: boolean };

const enqueueOp = fc.record({ kind: fc.constant('enqueue' as const), lane: fc.nat(LANES - 1), event: fc.nat(5) });
const advanceOp = fc.record({
  kind: fc.constant('advance' as const), lane: fc.nat(LANES - 1),
  mode: fc.constantFrom<LaneMode>('start', 'next', 'hold', 'yield', 'restart'),
  own: fc.boolean(), token: fc.constantFrom('t1', 't2'), done: fc.nat(3), stray: fc.boolean(),
});
// a turn's calls are all of one kind: calls of one turn have no order among them, and
// LaneCalls sends each kind as its own call
const turn = fc.oneof(fc.array(enqueueOp, { minLength: 1, maxLength: 8 }), fc.array(advanceOp, { minLength: 1, maxLength: 8 }));

/** A lane's state, without the times (when it moved, when an id was seen), which differ between two runs. */
async function laneState(redis: RedisClient, lane: LaneKeys) {
  const [fifo, events, run, seen] = await Promise.all([
    redis.lrange(lane.fifo, 0, -1), redis.hgetall(lane.events), redis.hgetall(lane.run), redis.zrange(lane.seen, 0, -1),
  ]);
  delete run.at;
  return { fifo, events, run, seen: seen.sort() };
}

/** A reply as it compares between two runs: an enqueue's idle ms is a time. */
const comparable = (op: Op, r: PromiseSettledResult<unknown>) =>
  (r.status === 'rejected' ? { error: String(r.reason) } : op.kind === 'enqueue' ? (r.value as unknown[]).slice(0, 3) : r.value);

describe('lane calls (several lanes in one script call)', () => {
  const redis = usePrivateRedis();
  let run = 0;

  it('calls made together answer and leave each lane as the same calls one by one do (fast-check)', async () => {
    const client = redis.client();
    const lanes = new LaneCalls(client);
    await fc.assert(fc.asyncProperty(fc.array(turn, { minLength: 1, maxLength: 8 }), async (turns) => {
      run++;
      const together = new KeySpace(`lc${run}t`, 1);
      const alone = new KeySpace(`lc${run}a`, 1);
      const laneKeys = (keys: KeySpace, l: number) => keys.webhookLane(`L${l}`);
      let runIds = 0;
      for (const ops of turns) {
        // each call's arguments from the lanes as the turn starts (both sides hold the same)
        const args = await Promise.all(ops.map(async (op) => {
          const lane = laneKeys(alone, op.lane);
          const none = { id: '', data: '', newRunId: '', runId: '', token: '', done: [] as string[] };
          if (op.kind === 'enqueue') return { ...none, id: `e${op.event}`, data: `data of e${op.event}`, newRunId: `R${++runIds}` };
          const [job, fifo] = await Promise.all([client.hget(lane.run, 'job'), client.lrange(lane.fifo, 0, -1)]);
          const runId = op.own ? job ?? '' : 'stale';
          const done = [...fifo.slice(0, op.done), ...(op.stray ? ['not-in-lane'] : [])];
          return op.mode === 'restart' ? { ...none, runId, token: `R${++runIds}` } : { ...none, runId, token: op.token, done };
        }));
        const call = (keys: KeySpace, op: Op, i: number): Promise<unknown> => {
          const a = args[i];
          const lane = laneKeys(keys, op.lane);
          if (op.kind === 'enqueue') return lanes.enqueue(lane, a.id, a.data, WINDOW_MS, a.newRunId);
          return lanes.advance(lane, a.runId, a.token, op.mode, 2, a.done);
        };
        // together: every call of the turn made at once
        const got = await Promise.allSettled(ops.map((op, i) => call(together, op, i)));
        // alone: each after the one before has been answered
        const want: PromiseSettledResult<unknown>[] = [];
        for (let i = 0; i < ops.length; i++) want.push(...await Promise.allSettled([call(alone, ops[i], i)]));
        expect(got.map((r, i) => comparable(ops[i], r))).to.deep.equal(want.map((r, i) => comparable(ops[i], r)));
      }
      for (let l = 0; l < LANES; l++) {
        expect(await laneState(client, laneKeys(together, l)), `lane ${l}`).to.deep.equal(await laneState(client, laneKeys(alone, l)));
      }
    }), { numRuns: 60 });
  });
});

describe('lane calls on one redis-server', () => {
  const redis = usePrivateRedis({ standalone: true });

  const scriptCalls = async (client: RedisClient) => {
    const stats = await client.info('commandstats');
    return ['eval', 'evalsha'].reduce((n, cmd) => n + Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0), 0);
  };

  it(`the calls of one turn go as one script call per ${LANES_PER_CALL} lanes, each answered as its own`, async () => {
    const client = redis.client();
    const lanes = new LaneCalls(client);
    const keys = new KeySpace('turn', 1);
    const n = 2 * LANES_PER_CALL + 20;
    // the scripts loaded first (ioredis sends a script's source once, after a NOSCRIPT)
    await Promise.all([1, 2].map((i) => lanes.enqueue(keys.webhookLane(`warm${i}`), 'w', 'w', WINDOW_MS, 'Rw')));
    await Promise.all([1, 2].map((i) => lanes.advance(keys.webhookLane(`warm${i}`), 'Rw', 'tok', 'next', 1, ['w'])));
    const before = await scriptCalls(client);
    const replies = await Promise.all(Array.from({ length: n }, (_, i) => lanes.enqueue(keys.webhookLane(`L${i % 40}`), `e${i}`, `data ${i}`, WINDOW_MS, `R${i}`)));
    expect(await scriptCalls(client) - before).to.equal(3);
    // lane L(i mod 40) gets e_i, e_(i+40), e_(i+80) in that order; the first started its run
    replies.forEach(([position, runId, started], i) => {
      expect([position, runId, started], `e${i}`).to.deep.equal([Math.floor(i / 40), `R${i % 40}`, i < 40 ? 1 : 0]);
    });
    const before2 = await scriptCalls(client);
    const advanced = await Promise.all(Array.from({ length: 40 }, (_, l) => lanes.advance(keys.webhookLane(`L${l}`), `R${l}`, 'tok', 'start', 1)));
    expect(await scriptCalls(client) - before2).to.equal(1);
    advanced.forEach((reply, l) => expect(reply, `L${l}`).to.deep.equal([1, 3, 1, `e${l}`, `data ${l}`]));
  });

  it('a lane whose keys are broken fails its own call; the others of the turn go on', async () => {
    const client = redis.client();
    const lanes = new LaneCalls(client);
    const keys = new KeySpace('broken', 1);
    const [a, broken, c] = ['A', 'B', 'C'].map((l) => keys.webhookLane(l));
    await client.set(broken.fifo, 'not a list');
    const enqueued = await Promise.allSettled([a, broken, c].map((lane, i) => lanes.enqueue(lane, `e${i}`, 'data', WINDOW_MS, `R${i}`)));
    expect(enqueued.map((r) => r.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((enqueued[1] as PromiseRejectedResult).reason)).to.match(/WRONGTYPE/);
    expect(await client.lrange(a.fifo, 0, -1)).to.deep.equal(['e0']);
    expect(await client.lrange(c.fifo, 0, -1)).to.deep.equal(['e2']);
    await client.hset(broken.run, 'job', 'R1');
    const advanced = await Promise.allSettled([a, broken, c].map((lane, i) => lanes.advance(lane, `R${i}`, 'tok', 'next', 1, [`e${i}`])));
    expect(advanced.map((r) => r.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
    expect((advanced[0] as PromiseFulfilledResult<unknown>).value).to.deep.equal([0]);
    expect(await client.exists(a.fifo, c.fifo, a.run, c.run)).to.equal(0);
  });
});
