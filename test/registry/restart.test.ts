import { expect } from 'chai';
import { WorkerRegistry } from '../../lib/registry/registry';
import { ids } from '../support/fixture';
import { until, usePrivateRedis } from '../support/redis';

describe('redis-server restarted between two calls', () => {
  const redis = usePrivateRedis({ appendOnly: true, standalone: true });

  it('reloads the scripts (NOSCRIPT) and the state it kept is right', async () => {
    const reg = new WorkerRegistry(redis.client(), { prefix: 'tc', shards: 4 });
    const ref = { roomId: 'RM_r', participantId: 'PA_r' };
    const [nodeA, nodeB] = [ids.node('a'), ids.node('b')];
    const { generation } = await reg.open({ ...ref, roomName: 'demo', identity: 'alice', guard: 'g1', nodeId: nodeA, connect: true });
    await redis.server.restart(); // SIGKILL, then start again: the script cache is empty
    // the connection comes back on its own; the next call re-sends the script's source
    const r = await until(async () => {
      try { return await reg.open({ ...ref, roomName: 'demo', identity: 'alice', guard: 'g2', nodeId: nodeB }); } catch { return null; }
    }, 'the registry to answer after the restart');
    expect(r).to.deep.equal({ outcome: 'open', generation, connected: true, refCount: 2 });
    expect(await reg.release({ ...ref, guard: 'g1' })).to.deep.include({ closed: false, wasConnected: true });
    expect(await reg.release({ ...ref, guard: 'g2' })).to.deep.include({ closed: true });
    const scripts = (await redis.client().info('memory')).match(/number_of_cached_scripts:(\d+)/);
    expect(Number(scripts?.[1])).to.be.greaterThan(0);
  });

  it('re-sends a script the server forgot while the connection stayed up (SCRIPT FLUSH)', async () => {
    const reg = new WorkerRegistry(redis.client(), { prefix: 'tc', shards: 4 });
    const ref = { roomId: 'RM_f', participantId: 'PA_f' };
    const node = ids.node();
    await reg.open({ ...ref, roomName: 'demo', identity: 'alice', guard: 'g1', nodeId: node });
    await redis.client().script('FLUSH');
    expect(await reg.open({ ...ref, roomName: 'demo', identity: 'alice', guard: 'g2', nodeId: node })).to.deep.include({ refCount: 2 });
  });
});
