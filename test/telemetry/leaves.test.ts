import type { ParticipantInfo, Room } from '@livekit/protocol';
import { expect } from 'chai';
import { stableId } from '../../lib/ids';
import { raisedLeaves } from '../../lib/registry/registry';
import { ids } from '../support/fixture';
import { until } from '../support/redis';
import { useTelemetry } from '../support/telemetry';

/**
 * One participant session, one leave: the seed's bug replayed (a resume across SFU nodes
 * with the old connection leaving before or after the new one joined), node death, and a
 * relay that dies between deciding the leave and queueing it.
 */
describe('telemetry service: the one leave of a participant', () => {
  const t = useTelemetry({ NODE_LEASE: '1s' });
  let room: Room;
  let participant: ParticipantInfo;
  // two SFU nodes: a participant's session may move from A to B
  let nodeA: string;
  let nodeB: string;
  beforeEach(() => {
    room = ids.roomInfo();
    participant = ids.participantInfo();
    nodeA = ids.node('a');
    nodeB = ids.node('b');
  });
  const leaves = () => t.notifier.names().filter((e) => e.startsWith('participant_left') || e === 'participant_connection_aborted');

  async function activeOn(node: string, signal: string, media: string) {
    await t.service.participantJoined({ room, participant, shouldSendEvent: true, guard: signal, nodeId: node });
    await t.service.participantActive({ room, participant, isMigration: false, guard: media, nodeId: node });
  }

  for (const order of ['after', 'before'] as const) {
    it(`resume on node B, A's old connection leaves ${order} B joined: exactly one participant_left`, async () => {
      await activeOn(nodeA, 'sig-a', 'media-a');
      const oldLeaves = async () => {
        // the old signal and media connections close: not the participant's leave
        await t.service.participantLeft({ room, participant, shouldSendEvent: false, guard: 'sig-a' });
        await t.service.participantLeft({ room, participant, shouldSendEvent: false, guard: 'media-a' });
      };
      const resumeOnB = async () => {
        await t.service.participantJoined({ room, participant, shouldSendEvent: false, guard: 'sig-b', nodeId: nodeB });
        await t.service.participantResumed({ room, participant, nodeId: nodeB });
      };
      if (order === 'after') { await resumeOnB(); await oldLeaves(); } else { await oldLeaves(); await resumeOnB(); }
      // stats keep flowing to the worker after the resume
      expect((await t.coordinator.registry.get({ roomId: room.sid, participantId: participant.sid }))?.closedAt).to.equal(null);
      await t.service.participantLeft({ room, participant, shouldSendEvent: true, guard: 'sig-b' });
      expect(leaves()).to.deep.equal(['participant_left']);
      // a second leave report for the same session raises nothing more
      await t.service.participantLeft({ room, participant, shouldSendEvent: true });
      expect(leaves()).to.deep.equal(['participant_left']);
    });
  }

  it('a node whose lease lapses with an active participant: exactly one participant_left, from the info last seen', async () => {
    await t.coordinator.registry.heartbeat(nodeA);
    await activeOn(nodeA, 'sig', 'media');
    const lapsed = await until(async () => (await t.coordinator.registry.lapsedNodes(1000)).find((l) => l.nodeId === nodeA), 'the lease to lapse');
    const [a, b] = await Promise.all([t.coordinator.registry.expireNode(lapsed), t.coordinator.registry.expireNode(lapsed)]);
    await t.coordinator.service.relayLeaves(raisedLeaves([...a, ...b]));
    expect(leaves()).to.deep.equal(['participant_left']);
    const [w] = t.notifier.events.filter((e) => e.event === 'participant_left');
    expect(w.participant?.identity).to.equal(participant.identity);
    expect(w.room?.sid).to.equal(room.sid);
  });

  it('a dead node raises nothing for a participant that resumed elsewhere', async () => {
    await t.coordinator.registry.heartbeat(nodeA);
    await activeOn(nodeA, 'sig', 'media');
    await t.service.participantJoined({ room, participant, shouldSendEvent: false, guard: 'sig-b', nodeId: nodeB });
    const orphans = await t.coordinator.registry.departNode(nodeA);
    await t.coordinator.service.relayLeaves(raisedLeaves(orphans));
    expect(orphans).to.deep.equal([]);
    expect(leaves()).to.deep.equal([]);
  });

  it('a participantLeft retried after its node died between deciding the leave and queueing it: the retry queues that leave, under its id, before it answers', async () => {
    await activeOn(nodeA, 'sig', 'media');
    // the first call decides the leave and records it, then its node dies
    const r = await t.coordinator.registry.release({
      roomId: room.sid, participantId: participant.sid, guard: 'sig', raiseLeave: true,
      info: participant.toJsonString(), room: room.toJsonString(),
    });
    expect(leaves()).to.deep.equal([]);
    // the SFU's retry: answered once the leave is queued, so what the SFU does next (a room's end) comes after it
    await t.service.participantLeft({ room, participant, shouldSendEvent: true, guard: 'sig' });
    expect(leaves()).to.deep.equal(['participant_left']);
    const [left] = t.notifier.events.filter((e) => e.event === 'participant_left');
    expect(left.id).to.equal(stableId('EV_', `leave|${r.leaveId}|participant_left`));
    // acked: the sweep has nothing left to relay, and another report raises nothing more
    const shard = t.coordinator.registry.keys.shardOf(room.sid);
    expect((await t.coordinator.registry.pendingLeaves(shard, 0)).map((p) => p.participantId)).to.not.include(participant.sid);
    await t.service.participantLeft({ room, participant, shouldSendEvent: true, guard: 'media' });
    expect(leaves()).to.deep.equal(['participant_left']);
  });

  it('a leave whose relay died is relayed by the sweep, once, under the same webhook id', async () => {
    await activeOn(nodeA, 'sig', 'media');
    // the release decides the leave and records it, then the relaying node dies
    const r = await t.coordinator.registry.release({
      roomId: room.sid, participantId: participant.sid, guard: 'sig', raiseLeave: true,
      info: participant.toJsonString(), room: room.toJsonString(),
    });
    // a leave's id is '<roomId>|<participantId>|<generation>', its webhook's id made from it
    expect(r.leaveId).to.equal(`${room.sid}|${participant.sid}|${r.generation}`);
    const shard = t.coordinator.registry.keys.shardOf(room.sid);
    const pending = await t.coordinator.registry.pendingLeaves(shard, 0);
    expect(pending.filter((p) => p.participantId === participant.sid).map((p) => p.id)).to.deep.equal([r.leaveId]);
    // two sweeps race (two nodes), and a third runs later
    await Promise.all([t.coordinator.service.relayLeaves(pending), t.coordinator.service.relayLeaves(pending)]);
    await t.coordinator.service.relayLeaves(await t.coordinator.registry.pendingLeaves(shard, 0));
    expect(leaves()).to.deep.equal(['participant_left']);
    const [left] = t.notifier.events.filter((e) => e.event === 'participant_left');
    expect(left.id).to.equal(stableId('EV_', `leave|${room.sid}|${participant.sid}|${r.generation}|participant_left`));
    expect((await t.coordinator.registry.pendingLeaves(shard, 0)).map((p) => p.participantId)).to.not.include(participant.sid);
  });
});
