import { createHash, randomFillSync } from 'node:crypto';

const ALPHABET = '23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

function encode(bytes: Uint8Array, length: number, offset = 0): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[bytes[offset + i] % ALPHABET.length];
  return out;
}

// Ids are drawn from a pool refilled in one call: a randomBytes() per id (one per
// analytics event) was a tenth of a busy node's CPU.
const pool = Buffer.alloc(12 * 1024);
let used = pool.length;

/** A LiveKit-style id: prefix + 12 base57 characters (guid.New). */
export function newId(prefix: string): string {
  if (used + 12 > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  used += 12;
  return prefix + encode(pool, 12, used - 12);
}

/**
 * The same id every time for the same `seed`: a leave relayed twice (its first relay
 * died after queueing) is queued under one webhook id, so it is delivered once.
 */
export function stableId(prefix: string, seed: string): string {
  return prefix + encode(createHash('sha256').update(seed).digest(), 12);
}
