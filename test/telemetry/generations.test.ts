import { expect } from 'chai';
import { ids } from '../support/fixture';
import { until } from '../support/redis';
import { useTelemetry } from '../support/telemetry';

/**
 * A participant session is one worker generation, and its leave's webhook id is made from
 * the generation: so a generation must never come back, or delivery (which drops an id it
 * has seen) would drop the later session's leave.
 */
describe('worker generations never repeat', function () {
  this.timeout(30_000);
  const t = useTelemetry();
  const room = ids.roomInfo('gen');
  const alice = ids.participantInfo('alice');
  const node = ids.node();

  const session = async (guard: string) => {
    await t.service.participantJoined({ room, participant: alice, shouldSendEvent: true, guard, nodeId: node });
    await t.service.participantActive({ room, participant: alice, isMigration: false, guard: `${guard}-media`, nodeId: node });
    await t.service.participantLeft({ room, participant: alice, shouldSendEvent: true, guard });
    await t.service.participantLeft({ room, participant: alice, shouldSendEvent: true, guard: `${guard}-media` });
  };

  it('a participant back after its worker was reaped (a late migration) gets its own participant_left', async () => {
    const registry = t.coordinator.registry;
    const ref = { roomId: room.sid, participantId: alice.sid };
    const shard = registry.keys.shardOf(room.sid);
    const generations: number[] = [];
    for (let i = 0; i < 3; i++) {
      await session(`sig-${i}`);
      const w = (await registry.get(ref))!;
      generations.push(w.generation);
      // reaped: the worker is gone, and with it the generation it had
      await until(async () => (await registry.dueForReaping(shard, 0)).some((d) => d.participantId === alice.sid), 'the worker due');
      expect(await registry.reap(ref, 0, w.generation)).to.equal(true);
      expect(await registry.get(ref)).to.equal(null);
    }
    expect(new Set(generations).size, `generations ${generations.join(', ')}`).to.equal(3);
    const leaves = t.notifier.events.filter((e) => e.event === 'participant_left' && e.participant?.sid === alice.sid);
    expect(leaves, 'one participant_left per session').to.have.length(3);
    expect(new Set(leaves.map((e) => e.id)).size, 'under three ids').to.equal(3);
  });

  it('a Redis that lost its data does not hand out an old generation again', async () => {
    const registry = t.coordinator.registry;
    const ref = { roomId: ids.room('flushed'), participantId: ids.participant() };
    const first = await registry.open({ ...ref, roomName: 'r', identity: 'f', guard: 'g', nodeId: node });
    await t.redis.flushAll(t.coordinator.redis);
    // generations are Redis time in ms: the first millisecond after the first one is enough
    await until(async () => {
      const [sec, usec] = await t.coordinator.redis.time();
      return Number(sec) * 1000 + Math.floor(Number(usec) / 1000) > first.generation;
    }, 'Redis time past the first generation');
    const second = await registry.open({ ...ref, roomName: 'r', identity: 'f', guard: 'g', nodeId: node });
    expect(second.generation).to.be.above(first.generation);
    expect(second.outcome).to.equal('created');
  });
});
