/**
 * ParticipantInfo JSON as a worker keeps it: the JSON keys LiveKit's protobuf JSON repeats
 * in every participant, and their punctuation, each stored as one control character. A
 * typical participant's ~120 characters take ~50, which keeps the worker hash small (see
 * docs/registry.md). Any string round-trips exactly: JSON text never holds a raw control
 * character, and a string that does is kept as it is, behind a marker.
 */

/** Ordered: at each position the first token that matches is taken, so a longer one goes before its prefixes. */
const TOKENS = [
  ',"permission":{"canSubscribe":true,"canPublish":true,"canPublishData":true',
  ',"tracks":[{"sid":"TR_',
  '","state":"DISCONNECTED"',
  ',"disconnectReason":"',
  ',"canPublishSources":["',
  '","state":"ACTIVE"',
  '","state":"JOINED"',
  '","joinedAtMs":"',
  ',"joinedAtMs":"',
  '","identity":"',
  ',"isPublisher":true',
  ',"attributes":{',
  '},{"sid":"TR_',
  '{"sid":"PA_',
  ',"joinedAt":"',
  ',"metadata":"',
  '"mimeType":"',
  ',"version":',
  ',"region":"',
  '","name":"',
  ',"stream":"',
  '"source":"',
  ',"kind":"',
  ',"type":"',
  ',"mid":"',
  ',"layers":[{',
];
/** Control characters other than tab, newline and carriage return (JSON whitespace); 0x1f marks a string kept as it is. */
const CODES = [1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29].map((c) => String.fromCharCode(c));
const RAW = '\x1f';
const CODE_CHARS = /[\x01-\x08\x0b\x0c\x0e-\x1f]/;
const CODE_PATTERN = /[\x01-\x08\x0b\x0c\x0e-\x1e]/g;
const TOKEN_PATTERN = new RegExp(TOKENS.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
const CODE_OF = new Map(TOKENS.map((t, i) => [t, CODES[i]]));
const TOKEN_OF = new Map(CODES.map((c, i) => [c, TOKENS[i]]));

if (TOKENS.length !== CODES.length) throw new Error('info codec: a token without its code');

/** The stored form of `info` ('' stays '': "keep what is stored"). */
export function packInfo(info: string): string {
  if (CODE_CHARS.test(info)) return RAW + info;
  return info.replace(TOKEN_PATTERN, (t) => CODE_OF.get(t)!);
}

/** The inverse of packInfo. */
export function unpackInfo(stored: string): string {
  if (stored.startsWith(RAW)) return stored.slice(1);
  return stored.replace(CODE_PATTERN, (c) => TOKEN_OF.get(c)!);
}
