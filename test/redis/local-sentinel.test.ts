import { expect } from 'chai';
import { existsSync } from 'node:fs';
import Redis from 'ioredis';
import { LocalSentinel } from '../../lib/redis/local-sentinel';
import { processAlive } from '../../lib/redis/server';
import { until } from '../support/redis';

/** `INFO` fields of the redis-server a connection is on. */
async function info(client: Redis): Promise<Record<string, string>> {
  return Object.fromEntries((await client.info()).split(/\r?\n/).filter((l) => l.includes(':')).map((l) => l.split(':', 2)));
}

describe('LocalSentinel: a master, its replica and 3 sentinels, real redis-servers on this machine', () => {
  let ls: LocalSentinel;
  let client: Redis;

  before(async () => {
    ls = await LocalSentinel.start();
    // one retry per call, so a call made while the master is down fails fast and the test polls
    client = new Redis({ sentinels: ls.sentinels, name: ls.masterName, maxRetriesPerRequest: 1 });
    client.on('error', () => {});
  });
  after(async () => {
    client?.disconnect();
    await ls?.stop();
  });

  it('starts with every sentinel knowing the master, its replica and the two other sentinels', async () => {
    expect(ls.masterName).to.equal('tc-master');
    expect(ls.sentinelAddresses).to.have.length(3);
    for (const { host, port } of ls.sentinels) {
      const s = new Redis({ host, port, lazyConnect: true });
      try {
        const [ip, masterPort] = await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', 'tc-master') as string[];
        expect(`${ip}:${masterPort}`).to.equal(ls.masterAddress);
        const replicas = await s.call('SENTINEL', 'REPLICAS', 'tc-master') as string[][];
        expect(replicas.map((r) => `${r[r.indexOf('ip') + 1]}:${r[r.indexOf('port') + 1]}`)).to.deep.equal([ls.replicaAddress]);
        expect(await s.call('SENTINEL', 'SENTINELS', 'tc-master')).to.have.length(2);
      } finally {
        s.disconnect();
      }
    }
  });

  it('takes writes and reads from an ioredis client that finds the master through the sentinels', async () => {
    await client.set('greeting', 'hello');
    expect(await client.get('greeting')).to.equal('hello');
    const server = await info(client);
    expect(`127.0.0.1:${server.tcp_port}`).to.equal(ls.masterAddress);
    expect(server.role).to.equal('master');
  });

  it('promotes the replica when the master is killed; the client reconnects to it, finds what was written before and writes again', async () => {
    await client.set('before', 'kept');
    expect(await client.wait(1, 1000)).to.equal(1);
    const formerReplica = ls.replicaAddress;

    await ls.killMaster();
    expect(await ls.waitForFailover()).to.equal(formerReplica);
    expect(ls.masterAddress).to.equal(formerReplica);

    await until(() => client.set('after', 'written').then(() => true, () => false), 'the client to write to the new master');
    const server = await info(client);
    expect(`127.0.0.1:${server.tcp_port}`).to.equal(formerReplica);
    expect(server.role).to.equal('master');
    expect(await client.get('before')).to.equal('kept');
    expect(await client.get('after')).to.equal('written');
  });

  it('stop() ends every process and removes its directory', async () => {
    const pids = ls.pids;
    expect(pids).to.have.length(5);
    client.disconnect();
    await ls.stop();
    expect(pids.filter(processAlive)).to.deep.equal([]);
    expect(existsSync(ls.dir)).to.equal(false);
  });
});
