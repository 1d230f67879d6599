import { expect } from 'chai';
import { useApiNode } from '../support/api-node';
import { ids } from '../support/fixture';
import { analyticsStats, rejectedStats } from '../support/streams';

/**
 * What buggy or hostile SFUs sent, each once seen to be accepted (and then poison the
 * flush), answered 503 (and retried for ever), or half-applied: now a 400 naming the
 * field, nothing written, and what is accepted is flushed.
 */
describe('POST /v1/telemetry: hostile and malformed input', function () {
  this.timeout(60_000);
  const node = useApiNode();
  // the SFU node each test speaks for
  let sfu: string;
  beforeEach(() => { sfu = ids.node(); });
  /** A room and a participant of the test's own, as an SFU sends them. */
  const session = () => {
    const room = ids.roomInfo('h');
    const participant = ids.participantInfo('p');
    return { room: { sid: room.sid, name: room.name }, participant: { sid: participant.sid, identity: participant.identity, state: 'ACTIVE' } };
  };

  const refused = async (body: unknown, match: RegExp, status = 400, raw?: string) => {
    const before = await node.snapshot();
    const webhooks = node.notifier.events.length;
    const res = await node.post(body, raw);
    expect(res.status, JSON.stringify(res.body)).to.equal(status);
    expect(res.body.error?.message ?? '').to.match(match);
    expect(await node.snapshot(), 'Redis after a refused request').to.equal(before);
    expect(node.notifier.events.length, 'no webhook').to.equal(webhooks);
  };

  const statsOf = async (participantId: string) => (await analyticsStats(node.admin)).filter((s) => s.participantId === participantId);

  it('a stat that cannot be coalesced: 400 naming the field; a good stat sent next is flushed', async () => {
    const { room, participant } = session();
    const joined = await node.post({ nodeId: sfu, events: [
      { method: 'participantJoined', room, participant, shouldSendEvent: false, guard: 'g-bad' },
      { method: 'participantJoined', room, participant: { ...participant, sid: `${participant.sid}x` }, shouldSendEvent: false, guard: 'g-good' },
    ] });
    expect(joined.status).to.equal(200);
    const key = { streamType: 'UPSTREAM', participantId: participant.sid, trackId: 'TR_1' };
    const bad: [unknown, RegExp][] = [
      [{ streams: [{ startTime: 'yesterday' }] }, /stat: .*streams\[0\]\.startTime: must be an RFC 3339 timestamp/],
      [{ streams: [{ rtt: -1 }] }, /streams\[0\]\.rtt: must be a uint32/],
      [{ streams: [{ frames: 1.5 }] }, /streams\[0\]\.frames: must be a uint32/],
      [{ score: 'x' }, /stat: .*score: must be a finite number/],
      [{ score: 'NaN' }, /score: must be a finite number/],
      [{ streams: [null] }, /streams\[0\]: must not be null/],
      [{ streams: {} }, /streams: must be an array/],
      [{ streams: [{ primaryBytes: '18446744073709551616' }] }, /primaryBytes: must be a uint64/],
      [{ streams: [{ videoLayers: [{ layer: 1e300 }] }] }, /videoLayers\[0\]\.layer: must be an int32/],
      [{ colour: 'blue' }, /colour: not a field of livekit\.AnalyticsStat/],
    ];
    for (const [stat, match] of bad) {
      await refused({ nodeId: sfu, events: [{ method: 'trackStats', id: `bad-${JSON.stringify(stat)}`, roomId: room.sid, roomName: room.name, key, stat }] }, match);
    }
    // LiveKit's isValid skips a wrapped counter: accepted, then skipped at the flush as LiveKit does
    const wrapped = await node.post({ nodeId: sfu, events: [{ method: 'trackStats', roomId: room.sid, key, stat: { streams: [{ primaryBytes: '18446744073709551615' }] } }] });
    expect(wrapped.status).to.equal(200);
    const good = await node.post({ nodeId: sfu, events: [{
      method: 'trackStats', roomId: room.sid, key: { ...key, participantId: `${participant.sid}x` }, stat: { streams: [{ primaryPackets: 7 }] },
    }] });
    expect(good.status).to.equal(200);
    await node.coordinator.service.flushStats();
    expect((await statsOf(`${participant.sid}x`)).map((s) => s.streams[0].primaryPackets)).to.deep.equal([7]);
    // only the wrapped counter is set aside (with its reason), never the good stat
    expect((await rejectedStats(node.admin)).map((d) => d.participantId)).to.not.include(`${participant.sid}x`);
  });

  it('prototype names are not methods: 400, never 503', async () => {
    for (const method of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', 'flushStats']) {
      await refused({ nodeId: sfu, events: [{ method }] }, /is not a TelemetryService method/);
    }
  });

  it('a body nested 20,000 deep: 400 before it is parsed', async () => {
    const deep = `{"nodeId":"${sfu}","events":[{"method":"trackStats","stat":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}]}`;
    await refused(null, /nested deeper than 32 levels/, 400, deep);
  });

  it('a JSON body with __proto__ or an extra top-level field: 400', async () => {
    await refused(null, /./, 400, `{"nodeId":"${sfu}","events":[{"method":"roomStarted","room":{"sid":"RM_p"}}],"__proto__":{"x":1}}`);
    await refused({ nodeId: sfu, events: [{ method: 'roomStarted', room: { sid: 'RM_p' } }], extra: 1 }, /extra: not a field of a batch/);
  });

  it('path ids (worker lookup, node routes): up to 256 bytes taken, ids no write accepts (a \'|\', over 256 bytes) a 400 naming the field', async () => {
    const get = (room: string, participant: string) => node.app.inject({ method: 'GET', url: `/v1/rooms/${encodeURIComponent(room)}/participants/${encodeURIComponent(participant)}`, headers: { authorization: `Bearer ${node.token}` } });
    const bar = await get('RM_a|b', 'PA_c');
    expect(bar.statusCode).to.equal(400);
    expect(bar.json().error).to.deep.equal({ code: 'invalid_field', message: "roomSid: must not contain '|'" });
    const long = await get('RM_a', 'P'.repeat(257));
    expect(long.statusCode).to.equal(400);
    expect(long.json().error.message).to.match(/^participantSid: must be at most 256 bytes/);
    // a well-formed id of no worker is still a 404, up to the longest the API takes (256 bytes, percent-encoded)
    expect((await get('RM_nobody', 'PA_nobody')).statusCode).to.equal(404);
    expect((await get('é'.repeat(128), 'PA_nobody')).statusCode).to.equal(404);
    // a worker with 256-byte sids, written through the API, is found by them
    const room = { sid: 'R'.repeat(256), name: 'long' };
    const participant = { sid: 'é'.repeat(128), identity: 'long', state: 'ACTIVE' };
    expect((await node.post({ nodeId: sfu, events: [{ method: 'roomStarted', room }, { method: 'participantJoined', room, participant, shouldSendEvent: true, guard: 'g' }] })).status).to.equal(200);
    const found = await get(room.sid, participant.sid);
    expect(found.statusCode, found.body).to.equal(200);
    expect(found.json()).to.deep.include({ roomId: room.sid, participantId: participant.sid });
    // so do the node routes: a 256-byte node id beats and departs; a 257-byte one is a 400
    const nodeRoute = (method: 'POST' | 'DELETE', nodeId: string) => node.app.inject({ method, url: `/v1/nodes/${encodeURIComponent(nodeId)}${method === 'POST' ? '/heartbeat' : ''}`, headers: { authorization: `Bearer ${node.token}` } });
    expect((await nodeRoute('POST', 'é'.repeat(128))).statusCode).to.equal(204);
    expect((await nodeRoute('DELETE', 'é'.repeat(128))).statusCode).to.equal(204);
    const tooLong = await nodeRoute('POST', 'n'.repeat(257));
    expect(tooLong.statusCode).to.equal(400);
    expect(tooLong.json().error.message).to.match(/^nodeId: must be at most 256 bytes/);
  });

  it('ids and names over 256 bytes, metadata over the limit: 400 and nothing applied, not even the events before', async () => {
    const { room, participant } = session();
    const long = 'é'.repeat(129); // 258 bytes
    await refused({ nodeId: sfu, events: [{ method: 'roomStarted', room }, { method: 'roomStarted', room: { ...room, name: long } }] }, /events\[1\]\.room\.name: must be at most 256 bytes/);
    await refused({ nodeId: sfu, events: [{ method: 'roomStarted', room }, { method: 'participantJoined', room, participant, shouldSendEvent: true, guard: long }] }, /events\[1\]\.guard: must be at most 256 bytes/);
    await refused({ nodeId: long, events: [{ method: 'roomStarted', room }] }, /nodeId: must be at most 256/);
    await refused({ nodeId: sfu, events: [{ method: 'roomStarted', id: long, room }] }, /events\[0\]\.id: must be a string of 1 to 256 bytes/);
    const big = 'm'.repeat(512 * 1024 + 1);
    await refused({ nodeId: sfu, events: [
      { method: 'roomStarted', room },
      { method: 'participantJoined', room, participant: { ...participant, metadata: big }, shouldSendEvent: true, guard: 'g1' },
    ] }, /events\[1\]\.participant\.metadata: must be at most 524288 bytes/);
  });

  it('70 KB of participant metadata (LiveKit allows 512 KB) is applied whole: worker, webhook and leave', async () => {
    const { room, participant } = session();
    const p = { ...participant, metadata: 'x'.repeat(70 * 1024) };
    const res = await node.post({ nodeId: sfu, events: [
      { method: 'roomStarted', room },
      { method: 'participantJoined', room, participant: p, shouldSendEvent: true, guard: 'sig' },
      { method: 'participantActive', room, participant: p, isMigration: false, guard: 'media' },
      { method: 'participantLeft', room, participant: p, shouldSendEvent: true, guard: 'sig' },
      { method: 'participantLeft', room, participant: p, shouldSendEvent: true, guard: 'media' },
    ] });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    const mine = node.notifier.events.filter((e) => e.room?.sid === room.sid).map((e) => e.event);
    expect(mine).to.deep.equal(['room_started', 'participant_joined', 'participant_left']);
  });

  it('a batch that fails part-way on Redis is not acknowledged, and a 500 is kept for faults a retry cannot cure', async () => {
    const { room } = session();
    const service = node.coordinator.service as unknown as Record<string, unknown>;
    const original = service.roomEnded;
    service.roomEnded = async () => { throw new TypeError('a bug of ours'); };
    try {
      const res = await node.post({ nodeId: sfu, events: [{ method: 'roomEnded', id: 'e-500', room }] });
      expect(res.status).to.equal(500);
      expect(res.body.error?.code).to.equal('internal');
    } finally {
      service.roomEnded = original;
    }
    const metrics = await node.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).to.match(/^tc_http_errors_total\{status="500"\} 1$/m);
    expect(metrics.body).to.match(/^tc_http_errors_total\{status="400"\} \d+$/m);
    // its claim was released: the same event id, retried once the fault is gone, is applied
    const retry = await node.post({ nodeId: sfu, events: [{ method: 'roomEnded', id: 'e-500', room }] });
    expect(retry.status).to.equal(200);
    expect(node.notifier.events.filter((e) => e.room?.sid === room.sid).map((e) => e.event)).to.deep.equal(['room_finished']);
  });
});
