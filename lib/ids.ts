import { createHash, randomBytes } from 'node:crypto';

const ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

function encode(bytes: Buffer, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[bytes[i] % ALPHABET.length];
  return out;
}

/** A LiveKit-style id: prefix + 12 base57 characters (guid.New). */
export function newId(prefix: string): string {
  return prefix + encode(randomBytes(12), 12);
}

/**
 * The same id every time for the same `seed`: a leave relayed twice (its first relay
 * died after queueing) is queued under one webhook id, so it is delivered once.
 */
export function stableId(prefix: string, seed: string): string {
  return prefix + encode(createHash('sha256').update(seed).digest(), 12);
}
