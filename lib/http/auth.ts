import { jwtVerify, type JWTPayload } from 'jose';

/**
 * The grant every API call's token must carry: LiveKit's observability grant, "write grants
 * to publish observability data" (livekit-server-sdk's `addObservabilityGrant({ write: true })`,
 * livekit/protocol's `SetObservabilityGrant(&auth.ObservabilityGrant{Write: true})`).
 *
 * A signature alone is not enough: the API key and secret that sign webhooks (receivers
 * verify them) are the ones a LiveKit app mints its participants' join tokens with, so every
 * participant holds a token signed with them. Such a token carries a room grant, never this
 * one: without the check, any participant could report others gone, end rooms, release an
 * SFU node's connections or replay webhooks, each turned into webhooks signed with the app's
 * own key.
 */
export const TELEMETRY_GRANT = { observability: { write: true } } as const;

/**
 * Clocks of SFU and coordinator nodes differ: LiveKit's AccessToken sets `nbf` to the second
 * it is made and LiveKit checks its tokens with a minute's leeway, as this does. Without it a
 * node whose clock ran a second behind the SFU's refused each token for its first second
 * (401, which clients do not retry: the batch was lost).
 */
export const CLOCK_LEEWAY_S = 60;

/** Why a request's token was refused: 401 (no valid token) or 403 (valid, without the grant). */
export interface Refusal {
  status: 401 | 403;
  code: 'unauthorized' | 'forbidden';
  message: string;
}

const hasGrant = (payload: JWTPayload) => {
  const o = payload.observability;
  return typeof o === 'object' && o !== null && (o as Record<string, unknown>).write === true;
};

/** Checks an `Authorization` header: null when it holds a token signed with `secret`, issued by `apiKey`, valid now (give or take CLOCK_LEEWAY_S), with TELEMETRY_GRANT. */
export async function refuseToken(header: string | undefined, apiKey: string, secret: Uint8Array): Promise<Refusal | null> {
  const token = header?.startsWith('Bearer ') ? header.slice(7) : undefined;
  if (!token) return { status: 401, code: 'unauthorized', message: 'missing Bearer token' };
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, secret, { issuer: apiKey, requiredClaims: ['exp'], clockTolerance: CLOCK_LEEWAY_S }));
  } catch (e) {
    return { status: 401, code: 'unauthorized', message: `invalid token: ${(e as Error).message}` };
  }
  if (!hasGrant(payload)) {
    return {
      status: 403, code: 'forbidden',
      message: `the token lacks the observability grant (${JSON.stringify(TELEMETRY_GRANT)}): a participant's join token is not accepted; an SFU or operator token adds it (AccessToken.addObservabilityGrant({ write: true }))`,
    };
  }
  return null;
}
