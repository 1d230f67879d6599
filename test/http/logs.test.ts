import type { ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { freePort } from '../../lib/redis/server';
import { sfuToken } from '../support/http';
import { startHttpNode, stopNodeProcess } from '../support/processes';
import { API_KEY, API_SECRET, TestReceiver } from '../support/receiver';
import { usePrivateRedis } from '../support/redis';

/**
 * A node's log at debug: JSON lines, one per request, the state changes of note, and
 * never the API secret, a token or the dashboard's basic-auth credentials.
 */
describe('node logs', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  const rx = new TestReceiver();
  const output: string[] = [];
  let node: ChildProcess;
  let url = '';
  redis.cleanups.push(async () => {
    await stopNodeProcess(node);
    await rx.stop();
  });

  before(async () => {
    await rx.start();
    const port = await freePort();
    node = await startHttpNode({ PORT: String(port), ...redis.env(), API_KEY, API_SECRET, WEBHOOK_URLS: rx.url, LOG_LEVEL: 'debug' }, { output });
    url = `http://127.0.0.1:${port}`;
  });

  it('logs each request at debug and state changes at info; no secret, token or credential appears', async () => {
    const token = await sfuToken('sfu-log', '5m');
    const basic = Buffer.from(`${API_KEY}:${API_SECRET}`).toString('base64');
    const body = JSON.stringify({ nodeId: 'sfu-log', events: [
      { method: 'roomStarted', room: { sid: 'RM_log', name: 'log-room' } },
      { method: 'participantActive', room: { sid: 'RM_log', name: 'log-room' }, participant: { sid: 'PA_log', identity: 'p' }, isMigration: false, guard: 'g' },
    ] });
    const res = await fetch(`${url}/v1/telemetry`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` }, body });
    expect(res.status).to.equal(200);
    expect((await fetch(`${url}/v1/telemetry`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}x` }, body })).status).to.equal(401);
    expect((await fetch(`${url}/admin/queues/api/queues`, { headers: { Authorization: `Basic ${basic}` } })).status).to.equal(200);
    await fetch(`${url}/v1/nodes/sfu-log`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    await stopNodeProcess(node);

    const text = output.join('');
    const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = lines.filter((l) => l.msg === 'request');
    expect(requests.map((l) => [l.method, l.url, l.status])).to.deep.include.members([
      ['POST', '/v1/telemetry', 200], ['POST', '/v1/telemetry', 401], ['GET', '/admin/queues/api/queues', 200], ['DELETE', '/v1/nodes/sfu-log', 204],
    ]);
    expect(requests.every((l) => l.level === 20 && typeof l.ms === 'number')).to.equal(true);
    const info = lines.filter((l) => l.level === 30).map((l) => l.msg);
    expect(info).to.include.members(['listening', 'delivering webhooks', 'SFU node departed: connections released', 'requests drained']);
    for (const secret of [API_SECRET, token, basic]) expect(text).to.not.include(secret);
  });
});
