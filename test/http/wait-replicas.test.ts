import { expect } from 'chai';
import type { FastifyInstance } from 'fastify';
import { SignJWT } from 'jose';
import { TELEMETRY_GRANT } from '../../lib/http/auth';
import Redis from 'ioredis';
import { loadOptions } from '../../lib/config/options';
import { Coordinator } from '../../lib/coordinator';
import { buildServer } from '../../lib/http/server';
import { createLogger } from '../../lib/log';
import { PrivateRedis } from '../../lib/redis/server';
import { API_KEY, API_SECRET } from '../support/api-node';
import { RecordingNotifier } from '../support/fakes';
import { until } from '../support/redis';

/**
 * REDIS_WAIT_REPLICAS against a real master and replica: a batch is answered 200 only once
 * the replica holds its writes, 503 (Retry-After) when the replica is paused or gone, and
 * with the setting 0 it is answered 200 whatever the replica does.
 */
describe('REDIS_WAIT_REPLICAS: a batch acknowledged only once a replica holds it', function () {
  this.timeout(60_000);
  let master: PrivateRedis;
  let replica: PrivateRedis;
  let admin: Redis;
  let replicaAdmin: Redis;
  const nodes: { coordinator: Coordinator; app: FastifyInstance }[] = [];
  let token = '';
  let paused = false;

  const pause = () => { process.kill(replica.pid!, 'SIGSTOP'); paused = true; };
  const resume = () => { if (paused) process.kill(replica.pid!, 'SIGCONT'); paused = false; };

  async function startReplica(): Promise<void> {
    replica = await PrivateRedis.start({ debugCommands: true, extraArgs: ['--replicaof', '127.0.0.1', String(master.port)] });
    replicaAdmin = new Redis(replica.url, { lazyConnect: true });
    replicaAdmin.on('error', () => {});
    await until(async () => (await admin.info('replication')).includes('state=online'), 'the replica online', 20_000);
  }

  async function node(env: Record<string, string>) {
    const coordinator = new Coordinator({
      redis: master.url, options: loadOptions({ REGISTRY_SHARDS: '4', NODE_ID: 'wait-node', ...env }),
      log: createLogger('silent'), notifier: new RecordingNotifier(),
    });
    await coordinator.connect();
    const app = buildServer(coordinator, { apiKey: API_KEY, apiSecret: API_SECRET, maxBodyBytes: 1 << 20 }, createLogger('silent'));
    nodes.push({ coordinator, app });
    return app;
  }

  const post = async (app: FastifyInstance, events: unknown[]) => {
    const res = await app.inject({
      method: 'POST', url: '/v1/telemetry', payload: JSON.stringify({ nodeId: 'sfu-w', events }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    });
    return { status: res.statusCode, retryAfter: res.headers['retry-after'], body: JSON.parse(res.body) as { error?: { code: string; message: string } } };
  };
  const join = (n: string) => [
    { method: 'roomStarted', id: `${n}-1`, room: { sid: `RM_${n}`, name: `wait-${n}` } },
    { method: 'participantActive', id: `${n}-2`, room: { sid: `RM_${n}`, name: `wait-${n}` }, participant: { sid: `PA_${n}`, identity: n }, isMigration: false, guard: 'g' },
  ];
  const digest = async (r: Redis) => String(await r.call('DEBUG', 'DIGEST'));
  const workerOn = async (r: Redis, n: string) => (await r.keys(`tc:*:w:RM_${n}|PA_${n}`)).length;

  before(async () => {
    master = await PrivateRedis.start({ debugCommands: true });
    admin = new Redis(master.url);
    await startReplica();
    token = await new SignJWT({ ...TELEMETRY_GRANT }).setProtectedHeader({ alg: 'HS256' }).setIssuer(API_KEY)
      .setExpirationTime(Math.floor(Date.now() / 1000) + 3600).sign(new TextEncoder().encode(API_SECRET));
  });
  after(async () => {
    resume();
    for (const n of nodes) { await n.app.close(); await n.coordinator.close(); }
    admin.disconnect();
    replicaAdmin.disconnect();
    await replica.stop();
    await master.stop();
  });

  it('replica up: 200, and the replica already holds everything the master does', async () => {
    const app = await node({ REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT: '500ms' });
    const res = await post(app, join('a'));
    expect(res.status).to.equal(200);
    // no polling: the 200 itself promises the replica has applied the batch
    expect(await digest(replicaAdmin)).to.equal(await digest(admin));
    expect(await workerOn(replicaAdmin, 'a')).to.equal(1);
  });

  it('concurrent batches share WAIT rounds (fewer WAITs than batches), all 200 and on the replica', async () => {
    const app = await node({ REDIS_WAIT_REPLICAS: '1' });
    const waits = async () => Number(/cmdstat_wait:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0);
    const before = await waits();
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => post(app, join(`c${i}`))));
    expect(answers.map((a) => a.status)).to.deep.equal(answers.map(() => 200));
    const used = (await waits()) - before;
    expect(used).to.be.greaterThan(0).and.lessThan(40);
    for (let i = 0; i < 40; i++) expect(await workerOn(replicaAdmin, `c${i}`), `c${i} on the replica`).to.equal(1);
  });

  it('replica paused: 503 with Retry-After, the batch applied on the master; the retry once it is back: 200', async () => {
    const app = await node({ REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT: '300ms' });
    pause();
    try {
      const t0 = Date.now();
      const res = await post(app, join('p'));
      expect(res.status).to.equal(503);
      expect(res.retryAfter).to.equal('1');
      expect(res.body.error?.message).to.match(/0 of 1 replicas/);
      expect(Date.now() - t0).to.be.at.least(300);
      expect(await workerOn(admin, 'p'), 'applied on the master').to.equal(1);
    } finally {
      resume();
    }
    const retry = await post(app, join('p'));
    expect(retry.status).to.equal(200);
    expect(await workerOn(replicaAdmin, 'p')).to.equal(1);
    expect(await digest(replicaAdmin)).to.equal(await digest(admin));
  });

  it('REDIS_WAIT_REPLICAS=0: 200 with the replica paused', async () => {
    const app = await node({ REDIS_WAIT_REPLICAS: '0' });
    pause();
    try {
      const res = await post(app, join('z'));
      expect(res.status).to.equal(200);
      expect(await workerOn(admin, 'z')).to.equal(1);
    } finally {
      resume();
    }
  });

  it('replica gone: 503; a replica back (resynced): 200', async () => {
    const app = await node({ REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT: '200ms' });
    replicaAdmin.disconnect();
    await replica.stop();
    expect((await post(app, join('g'))).status).to.equal(503);
    await startReplica();
    // as an SFU does: retried until it is confirmed (a replica just resynced on a busy machine may
    // take longer than this short timeout to acknowledge the first round)
    const batch = join('g');
    await until(async () => (await post(app, batch)).status === 200, 'the batch confirmed on the replica back', 20_000);
    expect(await workerOn(replicaAdmin, 'g')).to.equal(1);
  });
});
