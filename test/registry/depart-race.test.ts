import { expect } from 'chai';
import { WorkerRegistry } from '../../lib/registry/registry';
import { ids } from '../support/fixture';
import { until, usePrivateRedis } from '../support/redis';

/**
 * `DELETE /v1/nodes/:id` racing that SFU node's last POST: the POST renewed the lease, the
 * departure released every guard, then the POST's open added one more. That guard must
 * still belong to a lease that lapses, so it is released and its leave raised.
 */
describe('an SFU node departing while its last request is applied', function () {
  this.timeout(20_000);
  const redis = usePrivateRedis();

  it('a guard added after the departure released the node is released when the lease lapses', async () => {
    const reg = new WorkerRegistry(redis.client(), { prefix: 'tc', shards: 4 });
    const ref = { roomId: 'RM_d', participantId: 'PA_d' };
    const node = ids.node('departing');
    await reg.open({ ...ref, roomName: 'r', identity: 'd', guard: 'early', nodeId: node, connect: true });
    await reg.heartbeat(node); // the last POST's lease renewal
    const released = await reg.departNode(node);
    expect(released.map((o) => o.participantId)).to.deep.equal(['PA_d']);
    // the last POST's open lands after the departure
    await reg.open({ ...ref, roomName: 'r', identity: 'd', guard: 'late', nodeId: node });
    expect((await reg.get(ref))!.guards).to.deep.equal([{ guard: 'late', nodeId: node }]);
    // the lease lapses like any other: its expiry releases the late guard and raises the leave
    const lapsed = await until(async () => (await reg.lapsedNodes(300)).find((n) => n.nodeId === node), `${node} lapsed`, 5000);
    const orphans = await reg.expireNode(lapsed);
    expect(orphans.map((o) => ({ participantId: o.participantId, raised: o.leave !== null }))).to.deep.equal([{ participantId: 'PA_d', raised: true }]);
    expect((await reg.get(ref))!.guards).to.deep.equal([]);
    expect((await reg.lapsedNodes(0)).map((n) => n.nodeId)).to.not.include(node);
  });
});
