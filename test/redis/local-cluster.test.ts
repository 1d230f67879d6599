import { expect } from 'chai';
import { existsSync } from 'node:fs';
import Redis, { Cluster } from 'ioredis';
import { LocalCluster } from '../../lib/redis/local-cluster';
import { processAlive } from '../../lib/redis/server';
import { until } from '../support/redis';

describe('LocalCluster: a Redis Cluster of real redis-servers on this machine', () => {
  let cluster: LocalCluster;
  let client: Cluster;

  before(async () => {
    cluster = await LocalCluster.start();
    client = new Cluster(cluster.startupNodes);
    // the test kills a master on purpose; a call that fails still fails its test
    client.on('error', () => {});
  });
  after(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  const slotOf = async (key: string) => Number(await client.call('CLUSTER', 'KEYSLOT', key));
  const masterOf = (slot: number) => cluster.masters.findIndex((m) => m.slots.some(([a, b]) => slot >= a && slot <= b));

  it('starts 3 masters and 3 replicas, one replica each, every slot served once', async () => {
    expect(cluster.addresses).to.have.length(6);
    expect(cluster.masters).to.have.length(3);
    expect(cluster.replicas).to.have.length(3);
    const masterIds = cluster.masters.map((m) => m.id);
    expect(cluster.replicas.map((r) => r.masterId).sort()).to.deep.equal([...masterIds].sort());
    const covered = new Uint8Array(16384);
    for (const m of cluster.masters) for (const [a, b] of m.slots) for (let s = a; s <= b; s++) covered[s]++;
    expect(covered.every((n) => n === 1)).to.equal(true);
    for (const node of [...cluster.masters, ...cluster.replicas]) {
      const admin = new Redis({ port: node.port, host: node.host, lazyConnect: true });
      try {
        const info = String(await admin.call('CLUSTER', 'INFO'));
        expect(info).to.match(/cluster_state:ok/).and.to.match(/cluster_slots_ok:16384/).and.to.match(/cluster_known_nodes:6/);
      } finally {
        admin.disconnect();
      }
    }
  });

  it('takes writes and reads from an ioredis Cluster client, in every master\'s slots', async () => {
    const owners = new Set<number>();
    for (let i = 0; i < 30; i++) {
      await client.set(`k:${i}`, `v${i}`);
      owners.add(masterOf(await slotOf(`k:${i}`)));
    }
    expect([...owners].sort()).to.deep.equal([0, 1, 2]);
    for (let i = 0; i < 30; i++) expect(await client.get(`k:${i}`)).to.equal(`v${i}`);
  });

  it('fails a killed master over to its replica, which has what was written before, and the client writes again', async () => {
    let key = '';
    for (let n = 0; !key; n++) if (masterOf(await slotOf(`failover:${n}`)) === 0) key = `failover:${n}`;
    // a pipeline goes to the key's master, so WAIT counts the replicas that have this SET
    const [[setErr], [waitErr, acked]] = (await client.pipeline().set(key, 'before').wait(1, 1000).exec())!;
    expect(setErr).to.equal(null);
    expect(waitErr).to.equal(null);
    expect(acked).to.equal(1);

    const killed = await cluster.killMaster(0);
    expect(processAlive(killed.pid)).to.equal(false);
    const promoted = await cluster.waitForFailover();
    expect(promoted.masterId).to.equal(undefined);
    expect(promoted.slots).to.deep.equal(killed.slots);
    expect(cluster.masters.map((m) => m.id)).to.include(promoted.id).and.not.include(killed.id);
    expect(cluster.replicas).to.have.length(2);

    // the client learns the new owner of the slots from a MOVED or its slot refresh
    const got = await until(() => client.get(key).catch(() => null), 'the client to read the key after the failover');
    expect(got).to.equal('before');
    await until(() => client.set(key, 'after').then(() => true, () => false), 'the client to write after the failover');
    const direct = new Redis({ host: promoted.host, port: promoted.port, lazyConnect: true });
    try {
      expect(await direct.get(key)).to.equal('after');
    } finally {
      direct.disconnect();
    }
  });

  it('stop() ends every redis-server and removes its directory', async () => {
    const pids = cluster.pids;
    expect(pids).to.have.length(6);
    client.disconnect();
    await cluster.stop();
    expect(pids.filter(processAlive)).to.deep.equal([]);
    expect(existsSync(cluster.dir)).to.equal(false);
  });
});
