import { expect } from 'chai';
import { WorkerRegistry } from '../../lib/registry/registry';
import { ids } from '../support/fixture';
import { usePrivateRedis } from '../support/redis';

/**
 * The seed's bug: a resume moves the participant from node A to node B. Whether B's new
 * connection joins before or after A's old connection leaves, and whichever coordinator
 * connection carries each call, one open, connected worker remains, and the final leave
 * is a participant_left raised once.
 */
describe('resume across nodes (both orders, many interleavings)', () => {
  const redis = usePrivateRedis();
  let a: WorkerRegistry; // calls that reach coordinator node 1
  let b: WorkerRegistry; // calls that reach coordinator node 2
  // the SFU nodes the participant moves from (A) and to (B)
  let nodeA: string;
  let nodeB: string;
  beforeEach(() => {
    nodeA = ids.node('a');
    nodeB = ids.node('b');
  });

  before(() => {
    a = new WorkerRegistry(redis.client(), { prefix: 'tc', shards: 8 });
    b = new WorkerRegistry(redis.client(), { prefix: 'tc', shards: 8 });
  });

  async function activeOnA(roomId: string) {
    const ref = { roomId, participantId: 'PA_1' };
    await a.open({ ...ref, roomName: 'demo', identity: 'alice', guard: 'sig-A', nodeId: nodeA });
    await a.open({ ...ref, roomName: 'demo', identity: 'alice', guard: 'media-A', nodeId: nodeA, connect: true });
    return ref;
  }

  async function expectOneOpenConnectedWorker(ref: { roomId: string; participantId: string }) {
    const w = (await b.get(ref))!;
    expect(w.closedAt, 'open').to.equal(null);
    expect(w.connected, 'connected').to.equal(true);
    expect(w.guards.map((g) => g.nodeId)).to.deep.equal([nodeB, nodeB]);
    // the participant then leaves for good: both of B's connections go, one leave, participant_left
    const first = await a.release({ ...ref, guard: 'sig-B', raiseLeave: true });
    const last = await b.release({ ...ref, guard: 'media-B', raiseLeave: true });
    expect(first).to.deep.include({ wasConnected: true, leaveId: `${ref.roomId}|${ref.participantId}|${first.generation}`, closed: false });
    expect(last).to.deep.include({ wasConnected: true, leaveId: null, closed: true });
  }

  it('new connection joins before the old one leaves', async () => {
    const ref = await activeOnA('RM_before');
    await b.open({ ...ref, roomName: 'demo', identity: 'alice', guard: 'sig-B', nodeId: nodeB });
    await b.open({ ...ref, roomName: 'demo', identity: 'alice', guard: 'media-B', nodeId: nodeB, connect: true });
    await a.release({ ...ref, guard: 'sig-A' });
    await a.release({ ...ref, guard: 'media-A' });
    await expectOneOpenConnectedWorker(ref);
  });

  it('old connection leaves before the new one joins (the worker closed meanwhile)', async () => {
    const ref = await activeOnA('RM_after');
    await a.release({ ...ref, guard: 'sig-A' });
    expect((await a.release({ ...ref, guard: 'media-A' })).closed).to.equal(true);
    // B joins on its signal connection first: re-opened, connected carried over
    expect(await b.open({ ...ref, roomName: 'demo', identity: 'alice', guard: 'sig-B', nodeId: nodeB }))
      .to.deep.include({ outcome: 'reopened', connected: true });
    await b.open({ ...ref, roomName: 'demo', identity: 'alice', guard: 'media-B', nodeId: nodeB, connect: true });
    await expectOneOpenConnectedWorker(ref);
  });

  it('the leave and the join racing from two coordinators, 300 times', async () => {
    for (let i = 0; i < 300; i++) {
      const ref = await activeOnA(`RM_race_${i}`);
      const join = async () => {
        await b.open({ ...ref, roomName: 'demo', identity: 'alice', guard: 'sig-B', nodeId: nodeB });
        await b.open({ ...ref, roomName: 'demo', identity: 'alice', guard: 'media-B', nodeId: nodeB, connect: i % 2 === 0 });
      };
      const leave = async () => {
        await a.release({ ...ref, guard: 'sig-A' });
        await a.release({ ...ref, guard: 'media-A' });
      };
      await Promise.all(i % 3 === 0 ? [leave(), join()] : [join(), leave()]);
      if (i % 2 === 1) await b.markConnected(ref);
      await expectOneOpenConnectedWorker(ref);
    }
  });
});
