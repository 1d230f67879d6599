import { expect } from 'chai';
import { WorkerRegistry } from '../../lib/registry/registry';
import { ids } from '../support/fixture';
import { until, usePrivateRedis } from '../support/redis';

/**
 * A worker hash evicted by Redis (maxmemory) or deleted by hand leaves its closed-index
 * entry behind. The reap drops such entries, so they neither pile up nor, listed oldest
 * first up to the limit, keep the shard's real closed workers from ever being reaped.
 */
describe('reap: closed-index entries of workers deleted behind our back', () => {
  const redis = usePrivateRedis();
  let reg: WorkerRegistry;
  const WAIT = 100;
  before(() => { reg = new WorkerRegistry(redis.client(), { prefix: 'ev', shards: 4 }); });

  /** One round of the reap-shard job, with a small listing limit. */
  async function reapRound(shard: number, limit: number): Promise<number> {
    const batch = reg.batch();
    const results = (await reg.dueForReaping(shard, WAIT, limit)).map((due) => batch.reap(due, WAIT, due.generation));
    await batch.exec();
    return (await Promise.all(results)).filter(Boolean).length;
  }

  it('drops the entry of a gone worker (and its stats buffer), and still reaps the others of the shard', async () => {
    const roomId = 'RM_ev';
    const shard = reg.keys.shardOf(roomId);
    const ref = (p: string) => ({ roomId, participantId: p });
    const wkey = (p: string) => reg.keys.worker(shard, reg.keys.workerId(roomId, p));
    const client = redis.client();
    const node = ids.node();

    // closed first (oldest in the index), then deleted behind the registry's back
    for (const p of ['PA_gone1', 'PA_gone2', 'PA_gone3', 'PA_back']) {
      await reg.open({ ...ref(p), roomName: 'r', identity: p, guard: 'g', nodeId: node });
      await reg.release({ ...ref(p), guard: 'g' });
      await client.del(wkey(p));
    }
    const buffer = `${reg.keys.shardBase(shard)}stats:${reg.keys.workerId(roomId, 'PA_gone1')}`;
    await client.rpush(buffer, 'in|TR_1\n{}');
    // created anew after its hash went: open, yet still listed as closed
    await reg.open({ ...ref('PA_back'), roomName: 'r', identity: 'back', guard: 'g2', nodeId: node });
    // closed last (ties in the index sort by name, and these sort last too)
    for (const p of ['PA_ok1', 'PA_ok2']) {
      await reg.open({ ...ref(p), roomName: 'r', identity: p, guard: 'g', nodeId: node });
      await reg.release({ ...ref(p), guard: 'g' });
    }
    await until(async () => (await reg.dueForReaping(shard, WAIT)).length === 6, 'the cleanup wait');

    // the oldest two listed each round, as the job lists the oldest 1000
    let reaped = 0;
    for (let round = 0; round < 4; round++) reaped += await reapRound(shard, 2);

    expect(reaped).to.equal(2);
    expect(await reg.get(ref('PA_ok1'))).to.equal(null);
    expect(await reg.get(ref('PA_ok2'))).to.equal(null);
    expect(await client.zcard(reg.keys.closed(shard))).to.equal(0);
    expect(await client.exists(buffer)).to.equal(0);
    expect((await reg.get(ref('PA_back')))?.closedAt).to.equal(null);
    // the gone workers leave the worker count too: what is left is the one open worker
    expect(await reg.counts()).to.deep.equal({ workers: 1, closed: 0, open: 1 });
  });
});
