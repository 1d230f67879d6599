import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { freePort } from '../../lib/redis/server';
import { runHttpNodeToExit, startHttpNode, stopNodeProcess } from '../support/processes';
import { until } from '../support/redis';
import { sfuToken } from '../support/http';

/**
 * `npm start` as a newcomer runs it: no REDIS_URL (a private redis-server whose data in
 * .data/redis survives a restart), no API keys (dev keys, said in the log), and the
 * refusals with a message naming what to do.
 */
const answers = (port: number) => new Promise<boolean>((resolve) => {
  const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
  socket.on('error', () => resolve(false));
});

describe('npm start', function () {
  this.timeout(90_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tc-start-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const env = (port: number) => ({ PORT: String(port), REDIS_URL: '', API_KEY: '', API_SECRET: '', NODE_ENV: 'development', LOG_LEVEL: 'info' });

  it('without REDIS_URL runs its own redis-server in .data/redis, with dev keys; a restart keeps the state', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const token = await sfuToken('sfu-dev', '5m', { apiKey: 'devkey', apiSecret: 'secret' });
    const output: string[] = [];
    let node = await startHttpNode(env(port), { cwd: dir, output });
    try {
      // the log reaches the pipe a little after the node said it is ready
      const text = await until(() => { const t = output.join(''); return t.includes('"listening"') ? t : ''; }, 'the listening line');
      expect(text).to.include('started a private redis-server (REDIS_URL not set)');
      expect(text).to.match(/dev mode: API_KEY \/ API_SECRET not set, using API_KEY=devkey API_SECRET=secret/);
      expect(text).to.include(`/admin/queues`);
      const res = await fetch(`${url}/v1/telemetry`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ nodeId: 'sfu-dev', events: [{ method: 'participantActive', room: { sid: 'RM_dev', name: 'dev' }, participant: { sid: 'PA_dev', identity: 'd' }, isMigration: false, guard: 'g' }] }),
      });
      expect(res.status).to.equal(200);
      await stopNodeProcess(node);
      expect(node.exitCode).to.equal(0);
      // its redis-server stopped with it
      const redisPort = Number(/"port":(\d+),"dir":"[^"]*\.data\/redis"/.exec(text)?.[1]);
      expect(redisPort).to.be.greaterThan(0);
      expect(await answers(redisPort)).to.equal(false);
      node = await startHttpNode({ ...env(port), LOG_LEVEL: 'error' }, { cwd: dir });
      const w = await fetch(`${url}/v1/rooms/RM_dev/participants/PA_dev`, { headers: { Authorization: `Bearer ${token}` } });
      expect(w.status).to.equal(200);
      expect(await w.json()).to.deep.include({ roomId: 'RM_dev', participantId: 'PA_dev', connected: true, refCount: 1 });
    } finally {
      await stopNodeProcess(node);
    }
  });

  it('a second npm start in the same folder joins the first one\'s redis-server: a two-node fleet; the last to stop stops it', async () => {
    const shared = mkdtempSync(path.join(os.tmpdir(), 'tc-start-two-'));
    const [portA, portB] = [await freePort(), await freePort()];
    const token = await sfuToken('sfu-two', '5m', { apiKey: 'devkey', apiSecret: 'secret' });
    const outA: string[] = [];
    const outB: string[] = [];
    const a = await startHttpNode(env(portA), { cwd: shared, output: outA });
    let b: Awaited<ReturnType<typeof startHttpNode>> | null = null;
    try {
      b = await startHttpNode(env(portB), { cwd: shared, output: outB });
      const textB = await until(() => { const t = outB.join(''); return t.includes('"listening"') ? t : ''; }, 'B listening');
      expect(textB).to.include('joined the private redis-server another node started here');
      const redisPort = Number(/"port":(\d+),"dir":"[^"]*\.data\/redis"/.exec(textB)?.[1]);
      const post = await fetch(`http://127.0.0.1:${portA}/v1/telemetry`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify({ nodeId: 'sfu-two', events: [{ method: 'participantActive', room: { sid: 'RM_two', name: 'two' }, participant: { sid: 'PA_two', identity: 't' }, isMigration: false, guard: 'g' }] }),
      });
      expect(post.status).to.equal(200);
      const read = async () => (await fetch(`http://127.0.0.1:${portB}/v1/rooms/RM_two/participants/PA_two`, { headers: { Authorization: `Bearer ${token}` } })).status;
      expect(await read(), 'written through A, read through B').to.equal(200);
      // the node that started it stops first: the other keeps it
      await stopNodeProcess(a);
      expect(a.exitCode).to.equal(0);
      expect(await answers(redisPort)).to.equal(true);
      expect(await read()).to.equal(200);
      await stopNodeProcess(b);
      expect(b.exitCode).to.equal(0);
      await until(async () => !(await answers(redisPort)), 'the private redis-server stopped with the last node');
    } finally {
      await stopNodeProcess(a);
      if (b) await stopNodeProcess(b);
      rmSync(shared, { recursive: true, force: true });
    }
  });

  it('with NODE_ENV=production and no API keys it refuses to start, naming them', async () => {
    const { code, output } = await runHttpNodeToExit({ ...env(await freePort()), NODE_ENV: 'production' });
    expect(code).to.equal(2);
    expect(output).to.match(/configuration error: API_KEY.*API_KEY and API_SECRET both set when NODE_ENV=production/);
  });

  it('refuses settings that would put a password in its output, without printing the password', async () => {
    const secret = 'Zq9sEcReT';
    // a REDIS_URL it cannot parse (port out of range) failed later with a TypeError printing
    // the whole URL; a webhook URL's credentials are never sent, but were logged at every start
    for (const bad of [{ REDIS_URL: `redis://:${secret}@127.0.0.1:99999` }, { WEBHOOK_URLS: `https://hooks:${secret}@127.0.0.1:9/hook` }]) {
      const { code, output } = await runHttpNodeToExit({ ...env(await freePort()), ...bad });
      expect(code, JSON.stringify(bad)).to.equal(2);
      expect(output).to.match(new RegExp(`configuration error: ${Object.keys(bad)[0]}=".*\\*\\*\\*@`));
      expect(output).to.not.include(secret);
    }
  });

  it('without REDIS_URL and without redis-server on PATH it says which package to install', async () => {
    const { code, output } = await runHttpNodeToExit({ ...env(await freePort()), PATH: '/nonexistent' });
    expect(code).to.equal(1);
    expect(output).to.include('apt-get install redis-server');
  });
});
