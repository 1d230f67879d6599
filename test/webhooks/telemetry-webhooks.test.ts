import { expect } from 'chai';
import { loadOptions } from '../../lib/config/options';
import { Coordinator } from '../../lib/coordinator';
import { createLogger } from '../../lib/log';
import { loadWebhookOptions } from '../../lib/config/webhooks';
import { ids } from '../support/fixture';
import { until, usePrivateRedis } from '../support/redis';
import { API_KEY, API_SECRET, TestReceiver } from './receiver';

/** The telemetry service raises its webhooks through delivery on BullMQ, end to end. */
describe('telemetry webhooks delivered to a real receiver', function () {
  this.timeout(60_000);
  const redis = usePrivateRedis();
  const rx = new TestReceiver();
  let c: Coordinator;
  before(async () => {
    await rx.start();
    c = new Coordinator({
      redis: redis.target, options: loadOptions({ REGISTRY_SHARDS: '4' }), log: createLogger('silent'),
      webhooks: loadWebhookOptions({ WEBHOOK_URLS: rx.url, API_KEY, API_SECRET }),
    });
    await c.start();
  });
  redis.cleanups.push(async () => { await c.close(); await rx.stop(); });

  it('a room\'s webhooks arrive signed and in the order raised, one participant_left for a resumed participant', async () => {
    const room = ids.roomInfo('webhooked');
    const alice = ids.participantInfo('alice');
    const [nodeA, nodeB] = [ids.node('a'), ids.node('b')];
    const s = c.service;
    await s.roomStarted({ room });
    await s.participantJoined({ room, participant: alice, shouldSendEvent: true, guard: 'sig-a', nodeId: nodeA });
    await s.participantActive({ room, participant: alice, isMigration: false, guard: 'media-a', nodeId: nodeA });
    await s.participantJoined({ room, participant: alice, shouldSendEvent: false, guard: 'sig-b', nodeId: nodeB });
    await s.participantLeft({ room, participant: alice, shouldSendEvent: false, guard: 'sig-a' });
    await s.participantLeft({ room, participant: alice, shouldSendEvent: false, guard: 'media-a' });
    await s.participantLeft({ room, participant: alice, shouldSendEvent: true, guard: 'sig-b' });
    await s.roomEnded({ room });
    await until(() => rx.received.filter((e) => e.room?.name === room.name).length >= 4, 'the room\'s webhooks');
    expect(rx.received.filter((e) => e.room?.name === room.name).map((e) => e.event))
      .to.deep.equal(['room_started', 'participant_joined', 'participant_left', 'room_finished']);
    expect(rx.rejected).to.deep.equal([]);
  });
});
