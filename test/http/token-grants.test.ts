import { expect } from 'chai';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { AccessToken } from 'livekit-server-sdk';
import { CLOCK_LEEWAY_S } from '../../lib/http/auth';
import { API_KEY, API_SECRET, useApiNode } from '../support/api-node';
import { ids } from '../support/fixture';

/**
 * A LiveKit app mints its participants' join tokens with the same API key and secret the
 * coordinator signs webhooks with, so a valid signature alone proves nothing: every API call
 * needs the observability grant, which join tokens never carry. A token without it is a 403
 * that changes nothing, whatever else it grants.
 */
describe('API tokens: the observability grant', function () {
  this.timeout(60_000);
  const node = useApiNode();
  const secret = new TextEncoder().encode(API_SECRET);

  /** A token made with jose: `claims`, issued by `iss`, its times in epoch seconds (`exp` undefined: none), signed with `key`. */
  const signed = (claims: Record<string, unknown>, { iss = API_KEY, nbf, exp, key = secret }: { iss?: string; nbf?: number; exp?: number; key?: Uint8Array }) => {
    let t = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuer(iss);
    if (nbf !== undefined) t = t.setNotBefore(nbf);
    if (exp !== undefined) t = t.setExpirationTime(exp);
    return t.sign(key);
  };
  /** An SFU node's heartbeat with `jwt`: 204 when the token is taken. */
  const heartbeat = (sfu: string, jwt: string) =>
    node.app.inject({ method: 'POST', url: `/v1/nodes/${sfu}/heartbeat`, headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' }, payload: '{}' });

  const session = () => {
    const room = ids.roomInfo('g');
    const participant = ids.participantInfo('p');
    return { room: { sid: room.sid, name: room.name }, participant: { sid: participant.sid, identity: participant.identity } };
  };
  /** A token as livekit-server-sdk makes it, with `grant` (and the observability grant if asked). */
  const token = async (grant: Record<string, unknown>, observability?: { write: boolean }) => {
    const at = new AccessToken(API_KEY, API_SECRET, { identity: 'someone', ttl: '10m' });
    at.addGrant(grant);
    if (observability) at.addObservabilityGrant(observability);
    return at.toJwt();
  };
  /** Every route behind the token check, as a request with `jwt`. */
  const routes = (jwt: string, sfu: string, room: { sid: string }, participant: { sid: string }) => {
    const headers = { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' };
    return [
      { method: 'POST' as const, url: '/v1/telemetry', headers, payload: JSON.stringify({ nodeId: sfu, events: [{ method: 'roomStarted', room }] }) },
      { method: 'POST' as const, url: `/v1/nodes/${sfu}/heartbeat`, headers, payload: '{}' },
      { method: 'DELETE' as const, url: `/v1/nodes/${sfu}`, headers: { authorization: headers.authorization } },
      { method: 'GET' as const, url: `/v1/rooms/${room.sid}/participants/${participant.sid}`, headers: { authorization: headers.authorization } },
      { method: 'GET' as const, url: '/v1/webhooks', headers: { authorization: headers.authorization } },
      { method: 'POST' as const, url: '/v1/webhooks/replay', headers, payload: JSON.stringify({ url: 'http://receiver.example/hook', since: 0 }) },
    ];
  };

  it('a participant\'s join token, a room admin\'s, or a server token without the grant: 403 on every route, nothing written', async () => {
    const sfu = ids.node();
    const { room, participant } = session();
    // the participant is connected: a forged departure would be a participant_left
    const joined = await node.post({ nodeId: sfu, events: [
      { method: 'roomStarted', room },
      { method: 'participantActive', room, participant, isMigration: false, guard: 'g' },
    ] });
    expect(joined.status).to.equal(200);
    const refusedTokens = {
      'a join token': await token({ roomJoin: true, room: room.sid, canPublish: true, canSubscribe: true }),
      'a room admin\'s token': await token({ roomJoin: true, roomAdmin: true, room: room.sid }),
      'a server token (create, list, record)': await token({ roomCreate: true, roomList: true, roomRecord: true, ingressAdmin: true }),
      'observability without write': await token({}, { write: false }),
    };
    for (const [what, jwt] of Object.entries(refusedTokens)) {
      for (const request of routes(jwt, sfu, room, participant)) {
        const before = await node.snapshot();
        const webhooks = node.notifier.events.length;
        const res = await node.app.inject(request);
        expect(res.statusCode, `${what}: ${request.method} ${request.url}`).to.equal(403);
        expect(res.json().error.code).to.equal('forbidden');
        expect(res.json().error.message).to.match(/observability grant/);
        expect(await node.snapshot(), `${what}: ${request.method} ${request.url}: Redis`).to.equal(before);
        expect(node.notifier.events.length, 'no webhook').to.equal(webhooks);
      }
    }
    // the participant is still there, read with a token that has the grant
    const granted = await token({}, { write: true });
    const read = await node.app.inject(routes(granted, sfu, room, participant)[3]);
    expect(read.statusCode).to.equal(200);
  });

  it('without a valid token: 401, as before (none, another secret, another issuer, no exp, expired or not yet valid past the leeway)', async () => {
    const sfu = ids.node();
    const { room, participant } = session();
    const now = Math.floor(Date.now() / 1000);
    const claims = { observability: { write: true } };
    const invalid = {
      'another secret': await signed(claims, { exp: now + 600, key: new TextEncoder().encode(`${API_SECRET}x`) }),
      'another issuer': await signed(claims, { iss: 'other-key', exp: now + 600 }),
      'expired past the leeway': await signed(claims, { exp: now - CLOCK_LEEWAY_S - 60 }),
      'not valid before a time past the leeway': await signed(claims, { nbf: now + CLOCK_LEEWAY_S + 60, exp: now + 600 }),
      'no exp': await signed(claims, {}),
    };
    for (const [what, jwt] of Object.entries(invalid)) {
      for (const request of routes(jwt, sfu, room, participant)) {
        const res = await node.app.inject(request);
        expect(res.statusCode, `${what}: ${request.method} ${request.url}`).to.equal(401);
      }
    }
    const none = await node.app.inject({ method: 'GET', url: '/v1/webhooks' });
    expect(none.statusCode).to.equal(401);
  });

  it('an SFU whose clock is ahead or behind by less than a minute: its token is taken (LiveKit\'s leeway)', async () => {
    const sfu = ids.node();
    const now = Math.floor(Date.now() / 1000);
    // as LiveKit's AccessToken makes it on a clock `skew` s off: nbf = its now, exp = its now + 10 min
    for (const skew of [30, 5, 1, -1, -5, -30]) {
      const res = await heartbeat(sfu, await signed({ observability: { write: true } }, { nbf: now + skew, exp: now + skew + 600 }));
      expect(res.statusCode, `a clock ${skew} s off`).to.equal(204);
    }
    // a token that expired 30 s ago by this node's clock: the SFU's may still be within it
    const res = await heartbeat(sfu, await signed({ observability: { write: true } }, { nbf: now - 630, exp: now - 30 }));
    expect(res.statusCode).to.equal(204);
  });

  it('only a signed token whose observability.write is true is let through (property: any claims)', async () => {
    const sfu = ids.node();
    const value = fc.oneof(fc.boolean(), fc.constant('true'), fc.constant(1), fc.constant(null), fc.string({ maxLength: 5 }), fc.constant({ write: true }));
    await fc.assert(fc.asyncProperty(
      fc.record({
        video: fc.option(fc.record({ roomJoin: fc.boolean(), roomAdmin: fc.boolean(), roomCreate: fc.boolean(), room: fc.string({ maxLength: 8 }) }, { requiredKeys: [] }), { nil: undefined }),
        observability: fc.option(fc.oneof(fc.record({ write: value }, { requiredKeys: [] }), value), { nil: undefined }),
        write: fc.option(value, { nil: undefined }),
      }, { requiredKeys: [] }),
      async (claims) => {
        const res = await heartbeat(sfu, await signed(claims as Record<string, unknown>, { exp: Math.floor(Date.now() / 1000) + 600 }));
        const o = claims.observability as unknown;
        const granted = typeof o === 'object' && o !== null && (o as { write?: unknown }).write === true;
        expect(res.statusCode, JSON.stringify(claims)).to.equal(granted ? 204 : 403);
      },
    ), { numRuns: 300 });
  });
});
