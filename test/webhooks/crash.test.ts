import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ParticipantInfo, Room, WebhookEvent } from '@livekit/protocol';
import { expect } from 'chai';
import pino from 'pino';
import { KeySpace } from '../../lib/redis/keys';
import { WebhookDelivery } from '../../lib/webhooks/delivery';
import { WEBHOOK_DEFAULTS } from '../../lib/webhooks/options';
import { until, usePrivateRedis } from '../support/redis';
import { API_KEY, API_SECRET, TestReceiver } from './receiver';

function startDeliveryNode(env: Record<string, string>): Promise<ChildProcess> {
  const child = fork(path.join(__dirname, 'delivery-node.ts'), [], { env: { ...process.env, ...env }, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`delivery node exited with ${code}`)));
  });
}

describe('a delivering node killed with SIGKILL mid-run', function () {
  this.timeout(90_000);
  const redis = usePrivateRedis();
  const rx = new TestReceiver();
  const children: ChildProcess[] = [];
  let producer: WebhookDelivery;
  before(async () => {
    await rx.start();
    producer = new WebhookDelivery(redis.client(), redis.target, new KeySpace('tc', 4), {
      ...WEBHOOK_DEFAULTS, urls: [rx.url], includeEvents: [], excludeEvents: [], apiKey: API_KEY, apiSecret: API_SECRET, stuckRunMs: 1000,
    }, pino({ level: 'silent' }));
  });
  redis.cleanups.push(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await producer.close();
    await rx.stop();
  });

  it('every event still arrives (each id at least once), in order per room', async () => {
    rx.delayMs = 15;
    const env = { ...redis.env(), TARGET: rx.url };
    children.push(await startDeliveryNode(env));
    const rooms = ['k1', 'k2', 'k3', 'k4'];
    const ids: string[] = [];
    for (let k = 0; k < 40; k++) {
      for (const r of rooms) {
        const ev = new WebhookEvent({ event: 'participant_joined', room: new Room({ name: r }), participant: new ParticipantInfo({ identity: `p${k}` }) });
        await producer.queueNotify(ev);
        ids.push(ev.id);
      }
    }
    // every room's run part way through
    await until(() => rooms.every((r) => rx.roomSequence(r).length > 0), 'every room\'s run under way');
    children[0].kill('SIGKILL');
    const atKill = rx.received.length;
    expect(rooms.filter((r) => rx.roomSequence(r).length < 40), 'rooms left mid-run').to.not.be.empty;
    children.push(await startDeliveryNode(env));
    await until(() => new Set(rx.received.map((e) => e.id)).size === ids.length, 'every id delivered after the crash', 60_000);
    expect(atKill).to.be.lessThan(ids.length);
    for (const r of rooms) expect(rx.roomSequence(r), r).to.deep.equal(Array.from({ length: 40 }, (_, k) => `p${k}`));
  });
});
