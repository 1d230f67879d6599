import { expect } from 'chai';
import Redis from 'ioredis';
import { WorkerRegistry } from '../../lib/registry/registry';
import { until, usePrivateRedis } from '../support/redis';

/**
 * Redis Cluster runs a script only if every key it touches is in one hash slot. MONITOR
 * reports each command a script runs (source "lua"), and one script's commands arrive
 * together, so every run of consecutive script commands must name keys of one hash tag.
 */
describe('every script stays in one hash slot', () => {
  const redis = usePrivateRedis();

  it('touches only keys that share the hash tag of its shard', async () => {
    const groups: string[][] = [];
    let current: string[] | null = null;
    const monitorConn = new Redis(redis.server.url);
    const monitor = await monitorConn.monitor();
    let clientCalls = 0;
    monitor.on('monitor', (_t: string, args: string[], source: string) => {
      if (source !== 'lua') { current = null; clientCalls++; return; }
      if (args[0].toLowerCase() === 'time') return;
      if (!current) { current = []; groups.push(current); }
      current.push(args[1]);
    });

    const reg = new WorkerRegistry(redis.client(), { prefix: 'tc', shards: 16 });
    const refs = Array.from({ length: 64 }, (_, i) => ({ roomId: `RM_${i}`, participantId: `PA_${i}` }));
    await reg.heartbeat('sfu-a');
    for (const ref of refs) {
      await reg.open({ ...ref, roomName: 'r', identity: 'i', guard: 'g1', nodeId: 'sfu-a', connect: true });
      await reg.open({ ...ref, roomName: 'r', identity: 'i', guard: 'g2', nodeId: 'sfu-b' });
      await reg.open({ ...ref, roomName: 'r', identity: 'i', guard: 'g2', nodeId: 'sfu-a' });
      await reg.markConnected(ref);
      await reg.release({ ...ref, guard: 'g2', raiseLeave: true });
      await reg.open({ ...ref, roomName: 'r', identity: 'i', guard: 'g3', nodeId: 'sfu-b' });
    }
    await reg.departNode('sfu-b');
    const orphans = (await Promise.all((await reg.lapsedNodes(0)).map((n) => reg.expireNode(n)))).flat();
    expect(orphans).to.have.length(64);
    let reaped = 0;
    for (let shard = 0; shard < 16; shard++) {
      for (const due of await reg.dueForReaping(shard, 0)) if (await reg.reap(due, 0, due.generation)) reaped++;
    }
    expect(reaped).to.equal(64);
    const ping = await redis.client().ping();
    await until(() => clientCalls > 64 * 6 && ping === 'PONG', 'MONITOR to catch up');
    monitor.disconnect();
    monitorConn.disconnect();

    expect(groups.length).to.be.greaterThan(64 * 6);
    const tags = new Set<string>();
    for (const keys of groups) {
      const tagsOf = keys.map((k) => /\{([^}]*)\}/.exec(k)?.[1] ?? `no tag in ${k}`);
      expect(new Set(tagsOf).size, `one script touched ${keys.join(', ')}`).to.equal(1);
      tags.add(tagsOf[0]);
    }
    expect(tags.size).to.be.greaterThan(8); // the rooms really spread over shards
  });
});
