/**
 * Batches as a buggy or hostile SFU would send them, for property-based tests and
 * `npm run fuzz`: valid batches (rooms, participants joining and leaving, stats, tracks,
 * egress) mutated at random — wrong types, out-of-range numbers, missing and extra fields,
 * prototype names, oversize strings, deep nesting, duplicated and reordered events, ids
 * with '|', '{', '}' and unicode.
 */
import fc from 'fast-check';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export interface Batch { nodeId: string; events: Record<string, Json>[] }

const ALNUM = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'.split(''));
const plainId = (prefix: string) => fc.stringOf(ALNUM, { minLength: 1, maxLength: 6 }).map((s) => `${prefix}_${s}`);
/** Mostly plain ids, sometimes what breaks keys and records. */
const anyId = (prefix: string) => fc.oneof(
  { weight: 6, arbitrary: plainId(prefix) },
  { weight: 1, arbitrary: fc.constantFrom('a|b', '{s1}', '}{', `${prefix}_{x}`, 'é🙂', 'tab\there', ' ', '\u0000', 'line\nbreak') },
  { weight: 1, arbitrary: fc.fullUnicodeString({ minLength: 1, maxLength: 8 }) },
);

const iso = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString());
const u32 = fc.nat({ max: 2 ** 31 - 1 });
const stat = fc.record({
  score: fc.option(fc.float({ min: 0, max: 5, noNaN: true }), { nil: undefined }),
  streams: fc.array(fc.record({
    primaryPackets: u32, primaryBytes: fc.bigUintN(62).map(String), rtt: fc.nat({ max: 5000 }), nacks: fc.nat({ max: 100 }),
    startTime: iso, endTime: iso,
    videoLayers: fc.array(fc.record({ layer: fc.integer({ min: 0, max: 3 }), packets: u32, bytes: fc.bigUintN(40).map(String) }), { maxLength: 2 }),
  }, { requiredKeys: ['primaryPackets'] }), { maxLength: 2 }),
}, { requiredKeys: [] });

function eventArb(rooms: { sid: string; name: string }[], people: { sid: string; identity: string }[]) {
  const room = fc.constantFrom(...rooms);
  const participant = fc.constantFrom(...people);
  const guard = fc.constantFrom('sig', 'media', 'sig2');
  const track = fc.record({ sid: plainId('TR'), type: fc.constantFrom('AUDIO', 'VIDEO'), name: fc.constantFrom('mic', 'camera') });
  return fc.oneof(
    fc.record({ method: fc.constant('roomStarted'), room }),
    fc.record({ method: fc.constant('roomEnded'), room }),
    fc.record({ method: fc.constant('participantJoined'), room, participant, shouldSendEvent: fc.boolean(), guard }),
    fc.record({ method: fc.constant('participantActive'), room, participant, isMigration: fc.boolean(), guard }),
    fc.record({ method: fc.constant('participantResumed'), room, participant }),
    fc.record({ method: fc.constant('participantLeft'), room, participant, shouldSendEvent: fc.boolean(), guard }),
    fc.tuple(room, participant, fc.constantFrom('UPSTREAM', 'DOWNSTREAM'), plainId('TR'), stat).map(([r, p, streamType, trackId, s]) => (
      { method: 'trackStats', roomId: r.sid, roomName: r.name, key: { streamType, participantId: p.sid, trackId }, stat: s })),
    fc.tuple(room, participant, track, fc.boolean()).map(([r, p, t, send]) => (
      { method: 'trackPublished', room: r, participantId: p.sid, identity: p.identity, track: t, shouldSendEvent: send })),
    fc.tuple(room, participant, track).map(([r, p, t]) => ({ method: 'trackMuted', room: r, participantId: p.sid, track: t })),
    fc.tuple(plainId('EG'), room).map(([egressId, r]) => ({ method: 'egressStarted', info: { egressId, roomId: r.sid, roomName: r.name } })),
  ) as fc.Arbitrary<Record<string, Json>>;
}

/** A valid batch of one SFU node: a few rooms and participants, 1 to 8 events, each with an id. */
export const validBatch: fc.Arbitrary<Batch> = fc.record({
  nodeId: plainId('sfu'),
  rooms: fc.uniqueArray(plainId('RM'), { minLength: 1, maxLength: 2 }),
  people: fc.uniqueArray(plainId('PA'), { minLength: 1, maxLength: 3 }),
}).chain(({ nodeId, rooms, people }) => fc.array(
  eventArb(rooms.map((sid) => ({ sid, name: `name-${sid}` })), people.map((sid) => ({ sid, identity: `who-${sid}` }))),
  { minLength: 1, maxLength: 8 },
).chain((events) => fc.array(plainId('ev'), { minLength: events.length, maxLength: events.length })
  .map((ids) => ({ nodeId, events: events.map((e, i) => ({ ...e, id: ids[i] })) }))));

const WRONG = [1, -1, 1.5, 1e300, -1e300, 2 ** 32, -(2 ** 31) - 1, 'x', '', 'NaN', 'Infinity', '18446744073709551616', true, null, [], {}, [null]] as Json[];
const PROTO = ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', 'flushStats', 'relayLeaves', 'check'];

export type Mutation =
  | { kind: 'wrong-type'; at: number; value: Json }
  | { kind: 'delete'; at: number }
  | { kind: 'extra-field'; at: number; name: string }
  | { kind: 'method'; at: number; name: string }
  | { kind: 'oversize'; at: number; bytes: number }
  | { kind: 'deep'; at: number; depth: number }
  | { kind: 'duplicate'; at: number }
  | { kind: 'reorder' }
  | { kind: 'id'; at: number; id: string };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('wrong-type' as const), at: fc.nat(), value: fc.constantFrom(...WRONG) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('extra-field' as const), at: fc.nat(), name: fc.constantFrom('extra', '__proto__', 'constructor', 'nodeId', 'colour') }),
  fc.record({ kind: fc.constant('method' as const), at: fc.nat(), name: fc.oneof(fc.constantFrom(...PROTO), fc.string({ maxLength: 12 })) }),
  fc.record({ kind: fc.constant('oversize' as const), at: fc.nat(), bytes: fc.constantFrom(257, 300, 5000, 600 * 1024) }),
  fc.record({ kind: fc.constant('deep' as const), at: fc.nat(), depth: fc.constantFrom(20, 40, 2000) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat() }),
  fc.constant({ kind: 'reorder' as const }),
  fc.record({ kind: fc.constant('id' as const), at: fc.nat(), id: anyId('ev') }),
);

/** Every [container, key] inside the batch's events, to aim a mutation at. */
function slots(batch: Batch): [Record<string, Json> | Json[], string | number][] {
  const out: [Record<string, Json> | Json[], string | number][] = [];
  const walk = (v: Json) => {
    if (Array.isArray(v)) v.forEach((x, i) => { out.push([v, i]); walk(x); });
    else if (v && typeof v === 'object') for (const k of Object.keys(v)) { out.push([v, k]); walk(v[k]); }
  };
  batch.events.forEach((e) => walk(e));
  return out;
}

const nest = (depth: number): Json => { let v: Json = 1; for (let i = 0; i < depth; i++) v = { a: v }; return v; };

/** Applies mutations to a copy of `batch`; returns it and whether anything changed. */
export function mutate(batch: Batch, mutations: Mutation[]): Batch {
  const b: Batch = JSON.parse(JSON.stringify(batch));
  for (const m of mutations) {
    if (m.kind === 'reorder') { b.events.reverse(); continue; }
    if (m.kind === 'duplicate') { b.events.splice(m.at % b.events.length, 0, b.events[m.at % b.events.length]); continue; }
    if (m.kind === 'method') { b.events[m.at % b.events.length].method = m.name; continue; }
    if (m.kind === 'id') { b.events[m.at % b.events.length].id = m.id; continue; }
    const all = slots(b);
    if (all.length === 0) continue;
    const [container, key] = all[m.at % all.length];
    const c = container as Record<string | number, Json>;
    switch (m.kind) {
      case 'wrong-type': c[key] = m.value; break;
      case 'delete': if (Array.isArray(container)) container.splice(key as number, 1); else delete c[key]; break;
      case 'oversize': c[key] = 'é'.repeat(Math.ceil(m.bytes / 2)); break;
      case 'deep': c[key] = nest(m.depth); break;
      case 'extra-field': {
        const target = typeof c[key] === 'object' && c[key] !== null && !Array.isArray(c[key]) ? c[key] as Record<string, Json> : b.events[0];
        // an own property even for '__proto__', as JSON.parse would make it
        Object.defineProperty(target, m.name, { value: 'x', enumerable: true, configurable: true, writable: true });
        break;
      }
    }
  }
  return b;
}

/** A batch to send: valid (a third of the time) or mutated once to three times. */
export const fuzzCase = fc.record({ batch: validBatch, mutations: fc.oneof({ weight: 1, arbitrary: fc.constant([] as Mutation[]) }, { weight: 2, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) }) });

/** What was sent, as a counterexample is printed. */
export function describeCase(c: { batch: Batch; mutations: Mutation[] }): string {
  const body = JSON.stringify(mutate(c.batch, c.mutations));
  return `mutations ${JSON.stringify(c.mutations)}\nbody ${body.length > 2000 ? `${body.slice(0, 2000)}... (${body.length} chars)` : body}`;
}
