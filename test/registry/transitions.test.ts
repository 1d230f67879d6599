import { expect } from 'chai';
import { WorkerRegistry } from '../../lib/registry/registry';
import { InvalidRequestError } from '../../lib/registry/validate';
import { ids } from '../support/fixture';
import { until, usePrivateRedis } from '../support/redis';

describe('registry transitions (real redis-server)', () => {
  const redis = usePrivateRedis();
  let reg: WorkerRegistry;
  // each test's worker, and two SFU nodes
  let ref: { roomId: string; participantId: string };
  let nodeA: string;
  let nodeB: string;
  const who = () => ({ ...ref, roomName: 'demo', identity: 'alice' });

  before(() => { reg = new WorkerRegistry(redis.client(), { prefix: 'tc', shards: 4 }); });
  beforeEach(() => {
    ref = { roomId: ids.room(), participantId: ids.participant() };
    nodeA = ids.node('a');
    nodeB = ids.node('b');
  });

  describe('open (get-or-create)', () => {
    it('creates a worker holding the guard, owned by the node', async () => {
      const before = Date.now();
      const r = await reg.open({ ...who(), guard: 'g1', nodeId: nodeA, info: '{"sid":"x"}' });
      expect(r).to.deep.equal({ outcome: 'created', generation: r.generation, connected: false, refCount: 1 });
      // a new worker's generation is the Redis time in ms (this redis-server shares our clock)
      expect(r.generation).to.be.within(before - 1000, Date.now() + 1000);
      const w = await reg.get(ref);
      expect(w).to.deep.include({ roomName: 'demo', identity: 'alice', info: '{"sid":"x"}', refCount: 1, connected: false, closedAt: null, generation: r.generation, leaveRaised: false });
      expect(w!.guards).to.deep.equal([{ guard: 'g1', nodeId: nodeA }]);
    });

    it('counts the same guard twice once', async () => {
      await reg.open({ ...who(), guard: 'g1', nodeId: nodeA });
      const r = await reg.open({ ...who(), guard: 'g1', nodeId: nodeA });
      expect(r).to.deep.include({ outcome: 'open', refCount: 1 });
      expect((await reg.release({ ...ref, guard: 'g1' })).closed).to.equal(true);
    });

    it('without a guard creates a worker but changes no reference', async () => {
      const r = await reg.open(who());
      expect(r).to.deep.equal({ outcome: 'created', generation: r.generation, connected: false, refCount: 0 });
      await reg.open({ ...who(), guard: 'g1', nodeId: nodeA });
      expect((await reg.open(who())).refCount).to.equal(1);
    });

    it('with connect marks the worker connected in the same step', async () => {
      const r = await reg.open({ ...who(), guard: 'g1', nodeId: nodeA, connect: true });
      expect(r.connected).to.equal(true);
    });

    it('re-opens a closed worker as a new generation that carries connected over', async () => {
      const { generation: first } = await reg.open({ ...who(), guard: 'g1', nodeId: nodeA, connect: true });
      await reg.release({ ...ref, guard: 'g1', raiseLeave: true });
      expect((await reg.get(ref))!.closedAt).to.be.a('number');
      const r = await reg.open({ ...who(), guard: 'g2', nodeId: nodeB });
      expect(r).to.deep.equal({ outcome: 'reopened', generation: first + 1, connected: true, refCount: 1 });
      const w = (await reg.get(ref))!;
      expect(w.closedAt).to.equal(null);
      expect(w.leaveRaised).to.equal(false);
      expect(w.guards).to.deep.equal([{ guard: 'g2', nodeId: nodeB }]);
      expect(await reg.dueForReaping(reg.keys.shardOf(ref.roomId), 0)).to.not.deep.include({ ...ref, generation: first });
    });

    it('moves a guard re-sent by another node to that node', async () => {
      await reg.open({ ...who(), guard: 'g1', nodeId: nodeA });
      await reg.open({ ...who(), guard: 'g1', nodeId: nodeB });
      expect((await reg.get(ref))!.guards).to.deep.equal([{ guard: 'g1', nodeId: nodeB }]);
      expect(await reg.departNode(nodeA)).to.have.length(0);
      expect((await reg.get(ref))!.refCount).to.equal(1);
    });
  });

  describe('markConnected', () => {
    it('sets the flag on an existing worker, and reports an absent one', async () => {
      expect(await reg.markConnected(ref)).to.equal(false);
      expect(await reg.get(ref)).to.equal(null);
      await reg.open({ ...who(), guard: 'g1', nodeId: nodeA });
      expect(await reg.markConnected(ref)).to.equal(true);
      expect((await reg.get(ref))!.connected).to.equal(true);
    });
  });

  describe('release', () => {
    it('closes on the last guard and reports connected as it was', async () => {
      const { generation } = await reg.open({ ...who(), guard: 'g1', nodeId: nodeA });
      await reg.open({ ...who(), guard: 'g2', nodeId: nodeB, connect: true });
      expect(await reg.release({ ...ref, guard: 'g1' })).to.deep.equal({ found: true, wasConnected: true, closed: false, leaveId: null, generation });
      expect(await reg.release({ ...ref, guard: 'g2' })).to.deep.include({ closed: true });
      expect((await reg.get(ref))!.refCount).to.equal(0);
    });

    it('of a guard not held changes nothing', async () => {
      await reg.open({ ...who(), guard: 'g1', nodeId: nodeA });
      const before = await reg.get(ref);
      expect(await reg.release({ ...ref, guard: 'nope' })).to.deep.include({ found: true, closed: false });
      expect(await reg.get(ref)).to.deep.equal(before);
    });

    it('twice of the same guard closes once', async () => {
      await reg.open({ ...who(), guard: 'g1', nodeId: nodeA });
      expect((await reg.release({ ...ref, guard: 'g1' })).closed).to.equal(true);
      expect((await reg.release({ ...ref, guard: 'g1' })).closed).to.equal(false);
    });

    it('on an absent worker reports not found and creates nothing', async () => {
      expect(await reg.release({ ...ref, guard: 'g1', raiseLeave: true })).to.deep.equal({ found: false, wasConnected: false, closed: false, leaveId: null, generation: 0 });
      expect(await reg.get(ref)).to.equal(null);
    });

    it('raises the leave once per generation', async () => {
      await reg.open({ ...who(), guard: 'g1', nodeId: nodeA });
      await reg.open({ ...who(), guard: 'g2', nodeId: nodeB });
      const first = await reg.release({ ...ref, guard: 'g1', raiseLeave: true });
      expect(first.leaveId).to.equal(`${ref.roomId}|${ref.participantId}|${first.generation}`);
      expect((await reg.release({ ...ref, guard: 'g2', raiseLeave: true })).leaveId).to.equal(null);
      const { generation } = await reg.open({ ...who(), guard: 'g3', nodeId: nodeA });
      expect((await reg.release({ ...ref, guard: 'g3', raiseLeave: true })).leaveId).to.equal(`${ref.roomId}|${ref.participantId}|${generation}`);
    });
  });

  describe('reaping', () => {
    it('lists and reaps a worker closed for the wait, and not before', async () => {
      const shard = reg.keys.shardOf(ref.roomId);
      const { generation } = await reg.open({ ...who(), guard: 'g1', nodeId: nodeA });
      expect(await reg.reap(ref, 0)).to.equal(false);
      await reg.release({ ...ref, guard: 'g1' });
      // listed with the node index that names it, which the reap removes it from
      const due = { ...ref, generation, nodes: [nodeA] };
      expect(await reg.dueForReaping(shard, 60_000)).to.not.deep.include(due);
      expect(await reg.reap(ref, 60_000)).to.equal(false);
      expect(await reg.dueForReaping(shard, 0)).to.deep.include(due);
      expect(await redis.client().sismember(reg.keys.nodeGuards(shard, nodeA), `${ref.roomId}|${ref.participantId}`)).to.equal(1);
      expect(await reg.reap(ref, 0)).to.equal(true);
      expect(await reg.get(ref)).to.equal(null);
      expect(await redis.client().sismember(reg.keys.nodeGuards(shard, nodeA), `${ref.roomId}|${ref.participantId}`)).to.equal(0);
      expect(await reg.dueForReaping(shard, 0)).to.not.deep.include(due);
    });

    it('never reaps a worker re-opened since it was listed', async () => {
      const shard = reg.keys.shardOf(ref.roomId);
      const { generation } = await reg.open({ ...who(), guard: 'g1', nodeId: nodeA });
      await reg.release({ ...ref, guard: 'g1' });
      const [due] = (await reg.dueForReaping(shard, 0)).filter((d) => d.participantId === ref.participantId);
      await reg.open({ ...who(), guard: 'g2', nodeId: nodeA });
      expect(await reg.reap(due, 0, due.generation)).to.equal(false);
      // closed again: a later generation than the one listed is still not reaped by that listing
      await reg.release({ ...ref, guard: 'g2' });
      expect(await reg.reap(due, 0, due.generation)).to.equal(false);
      expect((await reg.get(ref))!.generation).to.equal(generation + 1);
    });

    it('reap racing a re-open: whichever runs first wins, never a reaped open worker', async () => {
      for (let i = 0; i < 200; i++) {
        const r = { roomId: ids.room(`race${i}`), participantId: 'PA_1' };
        await reg.open({ ...r, roomName: 'd', identity: 'a', guard: 'g1', nodeId: nodeA });
        await reg.release({ ...r, guard: 'g1' });
        const [reaped, opened] = await Promise.all([
          reg.reap(r, 0),
          reg.open({ ...r, roomName: 'd', identity: 'a', guard: 'g2', nodeId: nodeB }),
        ]);
        const w = await reg.get(r);
        // the worker always exists afterwards: either re-opened (reap lost) or created anew
        expect(w, `iteration ${i}`).to.not.equal(null);
        expect(w!.closedAt).to.equal(null);
        expect(w!.refCount).to.equal(1);
        expect(opened.outcome).to.equal(reaped ? 'created' : 'reopened');
      }
    });
  });

  describe('node leases', () => {
    it('expires a lapsed node: releases its guards, closes what it alone held, keeps the rest', async () => {
      const lease = 50;
      const a = { roomId: ref.roomId, participantId: 'PA_a' };
      const b = { roomId: ref.roomId, participantId: 'PA_b' };
      // node A lapses, node B keeps renewing its lease
      await reg.heartbeat(nodeA);
      await reg.heartbeat(nodeB);
      await reg.open({ ...a, roomName: 'r', identity: 'a', guard: 'ga1', nodeId: nodeA, connect: true, info: '{"identity":"a"}' });
      await reg.open({ ...b, roomName: 'r', identity: 'b', guard: 'gb1', nodeId: nodeA });
      await reg.open({ ...b, roomName: 'r', identity: 'b', guard: 'gb2', nodeId: nodeB });
      const lapsedAt = Date.now();
      let lapsed = await reg.lapsedNodes(lease);
      while (!lapsed.some((l) => l.nodeId === nodeA)) {
        await reg.heartbeat(nodeB);
        lapsed = await reg.lapsedNodes(lease);
        if (Date.now() - lapsedAt > 5000) throw new Error(`${nodeA} never lapsed`);
      }
      await reg.heartbeat(nodeB);
      const x = lapsed.find((l) => l.nodeId === nodeA)!;
      const orphans = await reg.expireNode(x);
      const generation = orphans[0]?.generation;
      expect(orphans).to.deep.equal([{
        ...a, wasConnected: true, generation,
        leave: {
          ...a, id: `${a.roomId}|${a.participantId}|${generation}`, generation, wasConnected: true, room: '',
          roomName: 'r', identity: 'a', info: '{"identity":"a"}', at: orphans[0]?.leave?.at,
        },
      }]);
      expect(orphans[0].generation).to.be.above(1_000_000_000_000);
      expect(await reg.pendingLeaves(reg.keys.shardOf(a.roomId), 0)).to.deep.include(orphans[0].leave);
      expect((await reg.get(a))!.closedAt).to.be.a('number');
      expect((await reg.get(b))!.guards).to.deep.equal([{ guard: 'gb2', nodeId: nodeB }]);
      expect((await reg.lapsedNodes(60_000)).map((l) => l.nodeId)).to.not.include(nodeA);
      // repeating an expiry (a crashed job retried) changes nothing more
      expect(await reg.expireNode(x)).to.deep.equal([]);
    });

    it('does not raise a second leave for a worker whose leave was already raised', async () => {
      await reg.open({ ...who(), guard: 'g1', nodeId: nodeA, connect: true });
      await reg.open({ ...who(), guard: 'g2', nodeId: nodeB });
      expect((await reg.release({ ...ref, guard: 'g1', raiseLeave: true })).leaveId).to.be.a('string');
      const [orphan] = await reg.departNode(nodeB);
      expect(orphan).to.deep.include({ ...ref, leave: null, wasConnected: true });
    });

    it('keeps guards a node added after its expiry began (it came back)', async () => {
      await reg.heartbeat(nodeA);
      await reg.open({ ...who(), guard: 'g-old', nodeId: nodeA });
      const [lapsed] = (await reg.lapsedNodes(0)).filter((l) => l.nodeId === nodeA);
      // the node comes back a later millisecond on Redis' clock, while its expiry is under way
      await until(async () => (await reg.heartbeat(nodeA)) > lapsed.cutoff, 'a later Redis millisecond');
      await reg.open({ ...who(), guard: 'g-new', nodeId: nodeA });
      await reg.expireNode(lapsed);
      expect((await reg.get(ref))!.guards.map((g) => g.guard)).to.deep.equal(['g-new']);
      // heard from since: the lease survives the expiry
      expect((await reg.lapsedNodes(0)).map((l) => l.nodeId)).to.include(nodeA);
    });

    it('releases thousands of guards of one node across shards in batches', async () => {
      const rooms = Array.from({ length: 37 }, () => ids.room('big'));
      const refs = Array.from({ length: 1500 }, (_, i) => ({ roomId: rooms[i % rooms.length], participantId: `PA_${i}` }));
      await Promise.all(refs.map((r) => reg.open({ ...r, roomName: 'r', identity: 'i', guard: 'g', nodeId: nodeA })));
      const orphans = await reg.departNode(nodeA);
      expect(orphans).to.have.length(1500);
      expect(new Set(orphans.map((o) => o.participantId)).size).to.equal(1500);
    });
  });

  describe('bad input changes nothing', () => {
    const cases: [string, () => Promise<unknown>, RegExp][] = [
      ['empty roomId', () => reg.open({ roomId: '', participantId: 'p', roomName: 'r', identity: 'i' }), /roomId: must be a non-empty string/],
      ["'|' in participantId", () => reg.open({ roomId: 'r', participantId: 'a|b', roomName: 'r', identity: 'i' }), /participantId: must not contain '\|'/],
      ['guard without node', () => reg.open({ roomId: 'r', participantId: 'p', roomName: 'r', identity: 'i', guard: 'g' }), /nodeId: must be a non-empty string/],
      ['empty guard', () => reg.release({ roomId: 'r', participantId: 'p', guard: '' }), /guard: must be a non-empty string/],
      ['non-string info', () => reg.open({ roomId: 'r', participantId: 'p', roomName: 'r', identity: 'i', info: 5 as unknown as string }), /info: must be a string/],
    ];
    for (const [name, call, message] of cases) {
      it(`rejects ${name}`, async () => {
        const before = await redis.dbsize();
        let err: unknown;
        try { await call(); } catch (e) { err = e; }
        expect(err).to.be.instanceOf(InvalidRequestError);
        expect((err as Error).message).to.match(message);
        expect(await redis.dbsize()).to.equal(before);
      });
    }
  });
});
