import { expect } from 'chai';
import type { FastifyInstance } from 'fastify';
import { SignJWT } from 'jose';
import { TELEMETRY_GRANT } from '../../lib/http/auth';
import Redis, { Cluster } from 'ioredis';
import { loadOptions } from '../../lib/config/options';
import { Coordinator } from '../../lib/coordinator';
import { buildServer } from '../../lib/http/server';
import { createLogger } from '../../lib/log';
import { LocalCluster, type ClusterNode } from '../../lib/redis/local-cluster';
import { KeySpace } from '../../lib/redis/keys';
import { keySlot } from '../../lib/telemetry/replica-wait';
import { RecordingNotifier } from '../support/fakes';
import { until } from '../support/redis';

const API_KEY = 'api-key';
const API_SECRET = 'api-secret-long-enough-for-hs256-signing';
const SHARDS = 4;

/**
 * REDIS_WAIT_REPLICAS on a Redis Cluster, through a failover: a batch's event ids live on
 * its SFU node's slot ({ev:<nodeId>}), here on another master than the participant's worker.
 * The worker's master is cut off from its replicas, so the batch is answered 503; that
 * master is then SIGKILLed and a replica that never got the batch promoted. The SFU's retry
 * must apply the batch on the new master: the ids of a batch that was not confirmed must
 * not stand as "applied" on the surviving master (the retry would be a no-op answered 200,
 * the participantActive lost for good).
 */
describe('REDIS_WAIT_REPLICAS on a cluster: a batch refused for want of replicas is applied again after a failover', function () {
  this.timeout(90_000);
  let cluster: LocalCluster;
  let coordinator: Coordinator | null = null;
  let app: FastifyInstance | null = null;
  let client: Cluster;
  const stopped: number[] = [];
  let token = '';

  before(async () => {
    // two replicas a master: the promoted one has a replica at once (the other follows it), so WAIT 1 can succeed after
    cluster = await LocalCluster.start({ replicasPerMaster: 2 });
    client = new Redis.Cluster(cluster.startupNodes);
    client.on('error', () => {});
    token = await new SignJWT({ ...TELEMETRY_GRANT }).setProtectedHeader({ alg: 'HS256' }).setIssuer(API_KEY)
      .setExpirationTime(Math.floor(Date.now() / 1000) + 3600).sign(new TextEncoder().encode(API_SECRET));
  });
  after(async () => {
    for (const pid of stopped.splice(0)) { try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ } }
    await app?.close();
    await coordinator?.close();
    client?.disconnect();
    await cluster?.stop();
  });

  const masterOf = (slot: number): number => cluster.masters.findIndex((m) => m.slots.some(([a, b]) => slot >= a && slot <= b));

  it('the retry after the failover is applied on the promoted master (the worker is there)', async () => {
    const keys = new KeySpace('tc', SHARDS);
    // a room whose shard is on one master, an SFU node whose event ids are on another
    let roomId = '';
    for (let i = 0; ; i++) { roomId = `RM_cwf${i}`; if (masterOf(keySlot(`s${keys.shardOf(roomId)}`)) === 0) break; }
    let sfu = '';
    for (let i = 0; ; i++) { sfu = `sfu-cwf${i}`; if (masterOf(keySlot(`ev:${sfu}`)) === 1) break; }
    const victim: ClusterNode = cluster.masters[0];
    const replicas = cluster.replicas.filter((r) => r.masterId === victim.id);
    expect(replicas).to.have.length(2);

    coordinator = new Coordinator({
      redis: { cluster: cluster.startupNodes },
      options: loadOptions({ REGISTRY_SHARDS: String(SHARDS), NODE_ID: 'cwf-node', REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT: '300ms' }),
      log: createLogger('silent'), notifier: new RecordingNotifier(),
    });
    await coordinator.connect();
    app = buildServer(coordinator, { apiKey: API_KEY, apiSecret: API_SECRET, maxBodyBytes: 1 << 20 }, createLogger('silent'));
    const post = async (events: unknown[]) => {
      const res = await app!.inject({
        method: 'POST', url: '/v1/telemetry', payload: JSON.stringify({ nodeId: sfu, events }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      });
      return { status: res.statusCode, body: res.body };
    };
    const room = { sid: roomId, name: 'cwf-room' };
    const active = [
      { method: 'participantActive', id: 'cwf-2', room, participant: { sid: 'PA_cwf', identity: 'cwf' }, isMigration: false, guard: 'g' },
    ];
    const worker = keys.worker(keys.shardOf(roomId), keys.workerId(roomId, 'PA_cwf'));

    const started = await until(async () => (await post([{ method: 'roomStarted', id: 'cwf-1', room }])).status === 200 || null, 'roomStarted acknowledged', 20_000);
    expect(started).to.equal(true);

    // the worker's master cut off from its replicas: what it acknowledges now is on it only
    for (const r of replicas) { process.kill(r.pid, 'SIGSTOP'); stopped.push(r.pid); }
    const admin = new Redis({ host: victim.host, port: victim.port });
    await admin.call('CLIENT', 'KILL', 'TYPE', 'replica');
    admin.disconnect();
    const refused = await post(active);
    expect(refused.status, refused.body).to.equal(503);
    expect(refused.body).to.match(/0 of 1 replicas/);

    // the master dies with the batch; a replica without it takes over
    await cluster.killMaster(0);
    for (const pid of stopped.splice(0)) process.kill(pid, 'SIGCONT');
    await cluster.waitForFailover(40_000);

    // the SFU retries until acknowledged: then the worker must be on the promoted master
    await until(async () => (await post(active)).status === 200 || null, 'the retry acknowledged', 40_000);
    expect(await client.exists(worker), `${worker} on the promoted master`).to.equal(1);
  });
});
