import { AccessToken } from 'livekit-server-sdk';
import { API_KEY, API_SECRET } from './receiver';

/** The token an SFU node presents to a node started with the test keys (livekit-server-sdk's AccessToken). */
export function sfuToken(identity = 'sfu', ttl: string | number = '10m', keys: { apiKey: string; apiSecret: string } = { apiKey: API_KEY, apiSecret: API_SECRET }): Promise<string> {
  const at = new AccessToken(keys.apiKey, keys.apiSecret, { identity, ttl });
  at.addObservabilityGrant({ write: true });
  return at.toJwt();
}

/** POSTs a batch (an object, or its raw text) to a node's /v1/telemetry with `token`. */
export function postBatch(url: string, token: string, body: unknown): Promise<Response> {
  return fetch(`${url}/v1/telemetry`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
