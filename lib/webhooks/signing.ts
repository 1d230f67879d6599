import { createHash } from 'node:crypto';
import { SignJWT } from 'jose';

/**
 * The Authorization header LiveKit puts on a webhook: an HS256 JWT from the API secret,
 * `iss` = API key, `sha256` = base64 SHA-256 of the body, valid 5 minutes. Made fresh at
 * each attempt, so a retry hours later is still accepted.
 */
export async function signWebhook(body: string, apiKey: string, apiSecret: string): Promise<string> {
  const sha256 = createHash('sha256').update(body).digest('base64');
  return new SignJWT({ sha256 })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(apiKey)
    .setNotBefore(Math.floor(Date.now() / 1000) - 5)
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(apiSecret));
}
