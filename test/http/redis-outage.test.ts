import type { ChildProcess } from 'node:child_process';
import { AccessToken } from 'livekit-server-sdk';
import { expect } from 'chai';
import { freePort } from '../../lib/redis/server';
import { startHttpNode, stopNodeProcess } from '../support/processes';
import { until, usePrivateRedis } from '../support/redis';
import { API_KEY, API_SECRET } from '../webhooks/receiver';

/** Two node processes whose one redis-server is killed and started again (a cluster's failover has its own tests). */
describe('HTTP API while its redis-server is down', function () {
  this.timeout(90_000);
  const redis = usePrivateRedis({ standalone: true });
  const nodes: ChildProcess[] = [];
  let urls: string[] = [];
  let token = '';
  redis.cleanups.push(async () => { await Promise.all(nodes.map((n) => stopNodeProcess(n))); });

  before(async () => {
    const ports = [await freePort(), await freePort()];
    nodes.push(...await Promise.all(ports.map((port) => startHttpNode({ PORT: String(port), ...redis.env(), API_KEY, API_SECRET }))));
    urls = ports.map((p) => `http://127.0.0.1:${p}`);
    token = await new AccessToken(API_KEY, API_SECRET, { identity: 'sfu-a', ttl: '10m' }).toJwt();
  });

  const post = (url: string, sid: string) => fetch(`${url}/v1/telemetry`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ nodeId: 'sfu-a', events: [{ method: 'roomStarted', room: { sid, name: `name-${sid}` } }] }),
  });

  it('Redis stopped: 503 with Retry-After and /readyz fails; Redis back: both recover', async () => {
    await redis.server.kill();
    for (const url of urls) {
      const res = await post(url, 'RM_down');
      expect(res.status).to.equal(503);
      expect(res.headers.get('retry-after')).to.equal('1');
      expect((await fetch(`${url}/readyz`)).status).to.equal(503);
    }
    await redis.server.restart();
    for (const url of urls) await until(async () => (await fetch(`${url}/readyz`)).status === 200, '/readyz to recover', 30_000);
    for (const url of urls) await until(async () => (await post(url, 'RM_up')).status === 200, 'the API to recover', 30_000);
  });
});
