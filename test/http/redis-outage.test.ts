import type { ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { ids } from '../support/fixture';
import { postBatch, sfuToken } from '../support/http';
import { startHttpNodes, stopNodeProcess } from '../support/processes';
import { API_KEY, API_SECRET } from '../support/receiver';
import { until, usePrivateRedis } from '../support/redis';

/** Two node processes whose one redis-server is killed and started again (a cluster's failover has its own tests). */
describe('HTTP API while its redis-server is down', function () {
  this.timeout(90_000);
  const redis = usePrivateRedis({ standalone: true });
  const nodes: ChildProcess[] = [];
  let urls: string[] = [];
  let token = '';
  redis.cleanups.push(async () => { await Promise.all(nodes.map((n) => stopNodeProcess(n))); });

  before(async () => {
    const fleet = await startHttpNodes(2, { ...redis.env(), API_KEY, API_SECRET });
    nodes.push(...fleet.nodes);
    urls = fleet.urls;
    token = await sfuToken();
  });

  const node = ids.node();
  const post = (url: string, sid: string) => postBatch(url, token, { nodeId: node, events: [{ method: 'roomStarted', room: { sid, name: `name-${sid}` } }] });

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
