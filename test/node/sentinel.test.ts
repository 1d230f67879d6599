import type { ChildProcess } from 'node:child_process';
import Redis from 'ioredis';
import { expect } from 'chai';
import { LocalSentinel } from '../../lib/redis/local-sentinel';
import { freePort } from '../../lib/redis/server';
import { ids } from '../support/fixture';
import { postBatch, sfuToken } from '../support/http';
import { startHttpNode, stopNodeProcess } from '../support/processes';
import { API_KEY, API_SECRET, TestReceiver } from '../support/receiver';
import { until } from '../support/redis';

/**
 * A node on Redis Sentinel (REDIS_SENTINEL_ADDRESSES + REDIS_SENTINEL_MASTER_NAME, as
 * LiveKit's redis.sentinel_addresses and sentinel_master_name): it starts, takes batches,
 * delivers webhooks; its master is SIGKILLed, a sentinel promotes the replica, and the
 * node goes on without a restart.
 */
describe('a coordinator node on Redis Sentinel, through a failover', function () {
  this.timeout(120_000);
  let sentinel: LocalSentinel;
  let node: ChildProcess | null = null;
  const rx = new TestReceiver();
  let port = 0;
  let token = '';
  before(async () => {
    sentinel = await LocalSentinel.start();
    await rx.start();
    port = await freePort();
    token = await sfuToken();
  });
  after(async () => {
    if (node) await stopNodeProcess(node);
    await rx.stop();
    await sentinel.stop();
  });

  // the one SFU node of both tests: the second reads what the first wrote
  const sfu = ids.node();
  const post = (events: unknown[]) => postBatch(`http://127.0.0.1:${port}`, token, { nodeId: sfu, events });
  const room = (n: string) => ({ sid: `RM_${n}`, name: `sentinel-${n}` });

  it('starts from the sentinel settings, takes a batch and delivers its webhook', async () => {
    node = await startHttpNode({
      PORT: String(port), REDIS_URL: '', REDIS_SENTINEL_ADDRESSES: sentinel.sentinelAddresses.join(','), REDIS_SENTINEL_MASTER_NAME: sentinel.masterName,
      API_KEY, API_SECRET, WEBHOOK_URLS: rx.url, FLUSH_INTERVAL: '1s', NODE_LEASE: '5s',
    });
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).to.equal(200);
    const res = await post([
      { method: 'roomStarted', id: 'before-1', room: room('a') },
      { method: 'participantActive', id: 'before-2', room: room('a'), participant: { sid: 'PA_s', identity: 's' }, isMigration: false, guard: 'g' },
    ]);
    expect(res.status).to.equal(200);
    await until(() => rx.received.some((e) => e.event === 'participant_joined' && e.room?.name === 'sentinel-a'), 'participant_joined');
  });

  it('a master SIGKILLed: the replica is promoted and the node goes on without a restart', async () => {
    // replication is asynchronous: the test waits for the replica to hold what was acknowledged
    const master = new Redis(`redis://${sentinel.masterAddress}`);
    expect(await master.wait(1, 5000)).to.equal(1);
    master.disconnect();
    await sentinel.killMaster();
    await sentinel.waitForFailover();
    const status = await until(async () => {
      const s = (await post([{ method: 'roomStarted', id: 'after-1', room: room('b') }]).catch(() => null))?.status;
      return s === 200 ? s : null;
    }, 'a batch accepted on the promoted master', 60_000);
    expect(status).to.equal(200);
    await until(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, '/readyz after the failover', 60_000);
    await until(() => rx.received.some((e) => e.event === 'room_started' && e.room?.name === 'sentinel-b'), 'a webhook queued after the failover, delivered', 60_000);
    const worker = await fetch(`http://127.0.0.1:${port}/v1/rooms/RM_a/participants/PA_s`, { headers: { Authorization: `Bearer ${token}` } });
    expect(worker.status, 'a worker written before the failover').to.equal(200);
    expect(node!.exitCode).to.equal(null);
  });
});
