import { expect } from 'chai';
import fc from 'fast-check';
import { ParticipantInfo, ParticipantInfo_State, ParticipantPermission, TrackInfo, TrackType } from '@livekit/protocol';
import { packInfo, unpackInfo } from '../../lib/registry/info-codec';
import { WorkerRegistry } from '../../lib/registry/registry';
import { ids } from '../support/fixture';
import { usePrivateRedis } from '../support/redis';

const participant = (sid: string, metadata = '') => new ParticipantInfo({
  sid, identity: 'alice@example.com', name: 'Alice', state: ParticipantInfo_State.ACTIVE, metadata,
  joinedAt: 1_700_000_000n, joinedAtMs: 1_700_000_000_123n, version: 4, region: 'eu-west', isPublisher: true,
  permission: new ParticipantPermission({ canSubscribe: true, canPublish: true, canPublishData: true }),
  tracks: [new TrackInfo({ sid: 'TR_abc', type: TrackType.AUDIO, name: 'mic', mimeType: 'audio/opus', mid: '0' })],
}).toJsonString();

describe('ParticipantInfo JSON as a worker stores it (info codec)', () => {
  it('round-trips any string exactly, control characters and tokens included', () => {
    const tokenish = fc.constantFrom('{"sid":"PA_', '","identity":"', ',"version":', '\x01', '\x1f', '\n', '"', '');
    fc.assert(fc.property(fc.array(fc.oneof(fc.fullUnicodeString(), tokenish)), (parts) => {
      const s = parts.join('');
      expect(unpackInfo(packInfo(s))).to.equal(s);
    }), { numRuns: 2000 });
  });

  it('keeps "" as "" (the scripts read it as: keep what is stored), and a ParticipantInfo in well under half', () => {
    expect(packInfo('')).to.equal('');
    const json = participant('PA_abcdefghijkl');
    expect(unpackInfo(packInfo(json))).to.equal(json);
    expect(packInfo(json).length).to.be.below(json.length / 2);
  });
});

describe('the worker hash stays compact (a listpack) whatever the lengths it is given', () => {
  const redis = usePrivateRedis();
  let reg: WorkerRegistry;
  before(() => { reg = new WorkerRegistry(redis.client(), { prefix: 'lay', shards: 4 }); });

  const hashOf = (ref: { roomId: string; participantId: string }) => reg.keys.worker(reg.keys.shardOf(ref.roomId), reg.keys.workerId(ref.roomId, ref.participantId));

  it('keeps long room names, identities and infos in pieces of at most 64 bytes, and gives them back whole', async () => {
    const client = redis.client();
    const ref = { roomId: 'RM_long', participantId: 'PA_long' };
    const roomName = 'r'.repeat(300);
    const identity = `id-${'é'.repeat(100)}`; // two bytes a character in Redis
    const info = participant('PA_long', 'm'.repeat(500));
    await reg.open({ ...ref, roomName, identity, info, guard: 'g1', nodeId: ids.node(), connect: true });

    expect(await client.object('ENCODING', hashOf(ref))).to.equal('listpack');
    const stored = await client.hgetallBuffer(hashOf(ref));
    for (const [field, value] of Object.entries(stored)) expect(value.length, `field ${field}`).to.be.at.most(64);
    expect(await reg.get(ref)).to.deep.include({ roomName, identity, info, connected: true, refCount: 1 });

    // a shorter info replaces every piece of the longer one
    const short = participant('PA_long');
    await reg.open({ ...ref, roomName: 'r', identity: 'i', info: short });
    expect(await reg.get(ref)).to.deep.include({ roomName: 'r', identity: 'i', info: short });
    const fields = Object.keys(await client.hgetall(hashOf(ref)));
    expect(fields.filter((f) => /^[nu]\d+$/.test(f))).to.deep.equal([]);
    expect(fields.filter((f) => /^i\d*$/.test(f))).to.have.length(Math.ceil(Buffer.byteLength(packInfo(short)) / 64));

    // the leave outbox and a node's expiry hand the whole values back
    await reg.open({ ...ref, roomName, identity, info });
    await reg.release({ ...ref, guard: 'g1', raiseLeave: true });
    const [leave] = (await reg.pendingLeaves(reg.keys.shardOf(ref.roomId), 0)).filter((l) => l.participantId === ref.participantId);
    expect(leave).to.deep.include({ roomName, identity, info });

    const other = { roomId: 'RM_long', participantId: 'PA_other' };
    const departing = ids.node('departing');
    await reg.open({ ...other, roomName, identity, info, guard: 'g2', nodeId: departing });
    const [orphan] = await reg.departNode(departing);
    expect(orphan.leave).to.deep.include({ ...other, roomName, identity, info });
  });

  it('records created at and generation across re-opens', async () => {
    const ref = { roomId: 'RM_gen', participantId: 'PA_gen' };
    const node = ids.node();
    const created = await reg.open({ ...ref, roomName: 'r', identity: 'i', guard: 'g', nodeId: node });
    for (let i = 1; i <= 3; i++) {
      await reg.release({ ...ref, guard: 'g', raiseLeave: true });
      expect(await reg.open({ ...ref, roomName: 'r', identity: 'i', guard: 'g', nodeId: node })).to.deep.include({ outcome: 'reopened', generation: created.generation + i });
    }
    expect(await reg.get(ref)).to.deep.include({ generation: created.generation + 3, createdAt: created.generation, leaveRaised: false });
  });
});
