import { expect } from 'chai';
import type { RedisClient } from '../../lib/redis/connection';
import { WorkerRegistry } from '../../lib/registry/registry';
import { ids } from '../support/fixture';
import { usePrivateRedis } from '../support/redis';

/**
 * Each shard counts its workers in the scripts that create and delete them, so metrics
 * read the open and closed workers without walking them. The count must follow every
 * transition exactly: it is checked against the worker hashes really stored.
 */
describe('worker count per shard (real redis-server)', () => {
  const redis = usePrivateRedis();
  let client: RedisClient;
  let reg: WorkerRegistry;
  const ref = { roomId: 'RM_count', participantId: 'PA_1' };
  const who = (r = ref) => ({ ...r, roomName: 'demo', identity: 'alice' });
  // two SFU nodes of the test's own
  let nodeA: string;
  let nodeB: string;

  before(() => { client = redis.client(); });
  // a prefix per test: each starts with no worker anywhere
  beforeEach(() => {
    reg = new WorkerRegistry(client, { prefix: ids.of('wc-'), shards: 4 });
    nodeA = ids.node('a');
    nodeB = ids.node('b');
  });

  /** The shards' counts summed, beside the worker hashes stored. */
  async function stored(): Promise<{ count: number; hashes: number }> {
    let count = 0;
    for (let s = 0; s < reg.keys.shards; s++) count += Number((await client.get(reg.keys.workers(s))) ?? 0);
    return { count, hashes: (await redis.keys(`${reg.keys.prefix}:*:w:*`, client)).length };
  }

  it('counts a created worker once, however often it is opened', async () => {
    expect(await reg.open({ ...who(), guard: 'g1', nodeId: nodeA })).to.deep.include({ outcome: 'created' });
    expect(await stored()).to.deep.equal({ count: 1, hashes: 1 });
    await reg.open({ ...who(), guard: 'g1', nodeId: nodeA });
    await reg.open({ ...who(), guard: 'g2', nodeId: nodeB, connect: true });
    await reg.open(who());
    await reg.markConnected(ref);
    expect(await stored()).to.deep.equal({ count: 1, hashes: 1 });
    expect(await client.get(reg.keys.workers(reg.keys.shardOf(ref.roomId)))).to.equal('1');
  });

  it('counts a worker created without a guard', async () => {
    expect(await reg.open(who())).to.deep.include({ outcome: 'created', refCount: 0 });
    expect(await stored()).to.deep.equal({ count: 1, hashes: 1 });
  });

  it('keeps the count when a worker closes and is re-opened', async () => {
    const { generation } = await reg.open({ ...who(), guard: 'g1', nodeId: nodeA });
    expect(await reg.release({ ...ref, guard: 'g1', raiseLeave: true })).to.deep.include({ closed: true });
    expect(await stored()).to.deep.equal({ count: 1, hashes: 1 });
    expect(await reg.open({ ...who(), guard: 'g2', nodeId: nodeA })).to.deep.include({ outcome: 'reopened', generation: generation + 1 });
    expect(await stored()).to.deep.equal({ count: 1, hashes: 1 });
  });

  it('a worker missing from the count leaves it untouched when reaped (no negative count)', async () => {
    await reg.open({ ...who(), guard: 'g1', nodeId: nodeA });
    const shard = reg.keys.shardOf(ref.roomId);
    // the count lost it (say, the counter was deleted by hand)
    await client.decr(reg.keys.workers(shard));
    await reg.release({ ...ref, guard: 'g1', raiseLeave: true });
    const [due] = await reg.dueForReaping(shard, 0);
    expect(await reg.reap(ref, 0, due.generation)).to.equal(true);
    expect(await stored()).to.deep.equal({ count: 0, hashes: 0 });
  });

  it('creates nothing for calls on an absent worker', async () => {
    expect(await reg.markConnected(ref)).to.equal(false);
    expect(await reg.release({ ...ref, guard: 'g1', raiseLeave: true })).to.deep.include({ found: false });
    expect(await reg.reap(ref, 0)).to.equal(false);
    expect(await stored()).to.deep.equal({ count: 0, hashes: 0 });
  });

  it('takes a reaped worker out of the count, once', async () => {
    const { generation } = await reg.open({ ...who(), guard: 'g1', nodeId: nodeA });
    await reg.release({ ...ref, guard: 'g1' });
    expect(await reg.reap(ref, 0, generation)).to.equal(true);
    expect(await stored()).to.deep.equal({ count: 0, hashes: 0 });
    expect(await reg.reap(ref, 0)).to.equal(false);
    expect(await stored()).to.deep.equal({ count: 0, hashes: 0 });
  });

  it('keeps the count when a reap is skipped', async () => {
    const { generation } = await reg.open({ ...who(), guard: 'g1', nodeId: nodeA });
    expect(await reg.reap(ref, 0), 'still open').to.equal(false);
    await reg.release({ ...ref, guard: 'g1' });
    expect(await reg.reap(ref, 60_000), 'closed too recently').to.equal(false);
    expect(await reg.reap(ref, 0, generation + 1), 'another generation').to.equal(false);
    const shard = reg.keys.shardOf(ref.roomId);
    await client.rpush(`${reg.keys.shardBase(shard)}stats:${reg.keys.workerId(ref.roomId, ref.participantId)}`, 'in|TR_1\n{}');
    expect(await reg.reap(ref, 0), 'stats not yet flushed').to.equal(false);
    await client.del(`${reg.keys.shardBase(shard)}stats:${reg.keys.workerId(ref.roomId, ref.participantId)}`);
    expect(await stored()).to.deep.equal({ count: 1, hashes: 1 });

    // listed as due, then re-opened before the reap ran
    const [due] = await reg.dueForReaping(shard, 0);
    expect(due).to.deep.equal({ ...ref, generation, nodes: [nodeA] });
    await reg.open({ ...who(), guard: 'g2', nodeId: nodeA });
    expect(await reg.reap(due, 0, due.generation), 're-opened since listed').to.equal(false);
    expect(await stored()).to.deep.equal({ count: 1, hashes: 1 });
  });

  it('keeps the count when a node expiry closes workers, and drops it as the batch reaps them', async () => {
    const refs = Array.from({ length: 12 }, (_, i) => ({ roomId: `RM_${i}`, participantId: `PA_${i}` }));
    for (const r of refs) await reg.open({ ...who(r), guard: 'g1', nodeId: nodeB });
    expect(await stored()).to.deep.equal({ count: 12, hashes: 12 });
    expect(await reg.departNode(nodeB)).to.have.length(12); // node B goes away
    expect(await stored()).to.deep.equal({ count: 12, hashes: 12 });
    expect(await reg.counts()).to.deep.equal({ workers: 12, closed: 12, open: 0 });

    const batch = reg.batch();
    const reaped: Promise<boolean>[] = [];
    for (let s = 0; s < reg.keys.shards; s++) {
      for (const due of await reg.dueForReaping(s, 0)) reaped.push(batch.reap(due, 0, due.generation));
    }
    await batch.exec();
    expect((await Promise.all(reaped)).filter(Boolean)).to.have.length(12);
    expect(await stored()).to.deep.equal({ count: 0, hashes: 0 });
    expect(await reg.counts()).to.deep.equal({ workers: 0, closed: 0, open: 0 });
  });

  it('counts() sums open and closed workers over the shards', async () => {
    expect(await reg.counts()).to.deep.equal({ workers: 0, closed: 0, open: 0 });
    const refs = Array.from({ length: 10 }, (_, i) => ({ roomId: `RM_${i}`, participantId: `PA_${i}` }));
    expect(new Set(refs.map((r) => reg.keys.shardOf(r.roomId))).size, 'spread over shards').to.be.greaterThan(1);
    for (const r of refs) await reg.open({ ...who(r), guard: 'g1', nodeId: nodeA });
    for (const r of refs.slice(0, 4)) await reg.release({ ...r, guard: 'g1' });
    expect(await reg.counts()).to.deep.equal({ workers: 10, closed: 4, open: 6 });

    await reg.open({ ...who(refs[0]), guard: 'g2', nodeId: nodeA }); // re-opened
    expect(await reg.reap(refs[1], 0)).to.equal(true);
    expect(await reg.counts()).to.deep.equal({ workers: 9, closed: 2, open: 7 });
  });
});
