import { ScalarType, Timestamp, type FieldInfo, type MessageType } from '@bufbuild/protobuf';
import { AnalyticsStat } from '@livekit/protocol';

/*
 * A strict reader of AnalyticsStat in protobuf JSON, driven by the message's own field
 * list: what it accepts, protobuf's strict fromJson accepts too, and the flush can
 * coalesce (finite scores, counters in their uint32 / uint64 ranges, int32 layers, valid
 * timestamps). It only reads the JSON, never builds the classes: trackStats is the hot
 * path, and a class round trip per stat would cost more than the rest of the request.
 */

const UINT32_MAX = 2 ** 32 - 1;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const FLOAT32_MAX = 3.4028234663852886e38;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
/** Strings are ids, names and mime types: nothing in a stat needs more. */
const MAX_STRING_BYTES = 256;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A number, or the decimal string protobuf JSON also allows; NaN when neither. */
function numeric(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && /^-?[0-9.eE+-]+$/.test(v)) return Number(v);
  return NaN;
}

function checkScalar(t: ScalarType, v: unknown): string | undefined {
  switch (t) {
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT: {
      const n = numeric(v);
      // protobuf JSON allows "NaN" and "Infinity"; coalescing needs finite numbers
      if (!Number.isFinite(n)) return 'must be a finite number';
      if (t === ScalarType.FLOAT && Math.abs(n) > FLOAT32_MAX) return 'must fit a float32';
      return undefined;
    }
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32: {
      const n = numeric(v);
      return Number.isInteger(n) && n >= INT32_MIN && n <= INT32_MAX ? undefined : 'must be an int32';
    }
    case ScalarType.UINT32:
    case ScalarType.FIXED32: {
      const n = numeric(v);
      return Number.isInteger(n) && n >= 0 && n <= UINT32_MAX ? undefined : 'must be a uint32 (0 to 4294967295)';
    }
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
    case ScalarType.UINT64:
    case ScalarType.FIXED64: {
      const unsigned = t === ScalarType.UINT64 || t === ScalarType.FIXED64;
      const what = unsigned ? 'must be a uint64 (0 to 18446744073709551615)' : 'must be an int64';
      if (typeof v === 'number') return Number.isSafeInteger(v) && (!unsigned || v >= 0) ? undefined : what;
      if (typeof v !== 'string' || !/^-?\d{1,20}$/.test(v)) return what;
      // up to 15 digits is exact as a double; only longer ones need a bigint
      if (v.length <= 15) return unsigned && v.charCodeAt(0) === 45 ? what : undefined;
      const b = BigInt(v);
      return (unsigned ? b >= 0n && b <= UINT64_MAX : b >= INT64_MIN && b <= INT64_MAX) ? undefined : what;
    }
    case ScalarType.BOOL:
      return typeof v === 'boolean' ? undefined : 'must be true or false';
    case ScalarType.STRING:
      if (typeof v !== 'string') return 'must be a string';
      // n UTF-16 units are at most 3n bytes: only long strings are measured
      return v.length * 3 <= MAX_STRING_BYTES || Buffer.byteLength(v) <= MAX_STRING_BYTES ? undefined : `must be at most ${MAX_STRING_BYTES} bytes`;
    default:
      return 'is not accepted in a stat';
  }
}

// protobuf's own RFC 3339 form (what Timestamp.fromJson takes), read without building a Timestamp
const RFC3339 = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:Z|\.([0-9]{3,9})Z|([+-][0-9][0-9]:[0-9][0-9]))$/;
const MIN_MS = Date.parse('0001-01-01T00:00:00Z');
const MAX_MS = Date.parse('9999-12-31T23:59:59Z');

const BAD_TIMESTAMP = 'must be an RFC 3339 timestamp between years 0001 and 9999';

function checkTimestamp(v: unknown): string | undefined {
  if (typeof v !== 'string') return 'must be an RFC 3339 timestamp string';
  const m = RFC3339.exec(v);
  if (!m) return BAD_TIMESTAMP;
  if (m[8]) {
    // an offset can carry the time past year 1 or 9999: the exact check
    const ms = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[8]}`);
    return Number.isNaN(ms) || ms < MIN_MS || ms > MAX_MS ? BAD_TIMESTAMP : undefined;
  }
  // UTC: each part in range is what Date.parse (and so Timestamp.fromJson) accepts, or stricter
  const year = +m[1], month = +m[2], day = +m[3], hour = +m[4], minute = +m[5], second = +m[6];
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 && second <= 59 ? undefined : BAD_TIMESTAMP;
}

/** Where a check failed, built as the failure returns up (nothing is built on success). */
class Problem {
  readonly path: string[] = [];
  constructor(readonly what: string) {}
  at(step: string): Problem {
    this.path.push(step);
    return this;
  }
}

/** Checks one value of a field; made once per field of the schema, so the hot path only calls. */
type Check = (v: unknown) => Problem | undefined;

function valueCheck(f: FieldInfo): Check {
  switch (f.kind) {
    case 'scalar': {
      const t = f.T;
      return (v) => {
        const e = checkScalar(t, v);
        return e ? new Problem(e) : undefined;
      };
    }
    case 'enum': {
      const names = new Set(f.T.values.map((x) => x.name));
      const numbers = new Set(f.T.values.map((x) => x.no));
      return (v) => (names.has(v as string) || numbers.has(v as number) ? undefined : new Problem(`must be one of ${[...names].join(', ')}`));
    }
    case 'message': {
      if (f.T.typeName === Timestamp.typeName) {
        return (v) => {
          const e = checkTimestamp(v);
          return e ? new Problem(e) : undefined;
        };
      }
      const type = f.T;
      return (v) => checkMessage(type, v);
    }
    default:
      return () => new Problem('is not accepted in a stat');
  }
}

function fieldCheck(f: FieldInfo): Check {
  const one = valueCheck(f);
  if (!f.repeated) return one;
  return (v) => {
    if (!Array.isArray(v)) return new Problem('must be an array');
    for (let i = 0; i < v.length; i++) {
      const p = v[i] === null ? new Problem('must not be null') : one(v[i]);
      if (p) return p.at(`[${i}]`);
    }
    return undefined;
  };
}

const schemas = new Map<string, Map<string, Check>>();

/** A message's fields, by both names protobuf JSON takes (lowerCamelCase and the proto name). */
function schemaOf(type: MessageType): Map<string, Check> {
  let schema = schemas.get(type.typeName);
  if (!schema) {
    schema = new Map();
    // set before the fields are compiled: a message may hold its own type
    schemas.set(type.typeName, schema);
    for (const f of type.fields.list()) {
      const check = fieldCheck(f);
      schema.set(f.jsonName, check);
      schema.set(f.name, check);
    }
  }
  return schema;
}

function checkMessage(type: MessageType, v: unknown): Problem | undefined {
  if (!isObject(v)) return new Problem('must be an object');
  const schema = schemaOf(type);
  for (const name in v) {
    const check = schema.get(name);
    if (!check) return new Problem(`not a field of ${type.typeName}`).at(name);
    const value = v[name];
    // protobuf JSON: null is the field's default
    if (value === null) continue;
    const p = check(value);
    if (p) return p.at(name);
  }
  return undefined;
}

/*
 * The fast path: the forms SFUs send (camelCase names, numbers as numbers, uint64 as short
 * strings, UTC timestamps), checked inline. It never accepts what the full check above
 * refuses; anything it does not recognise goes to the full check, which says what is wrong.
 */

const enum Code { U32, I32, U64, FLOAT, DOUBLE, BOOL, STRING, ENUM, TIMESTAMP, MESSAGE, OTHER }

interface Desc {
  code: Code;
  repeated: boolean;
  type?: MessageType;
  enumNames?: Set<unknown>;
}

const descs = new Map<string, Record<string, Desc>>();

function descsOf(type: MessageType): Record<string, Desc> {
  let d = descs.get(type.typeName);
  if (d) return d;
  d = Object.create(null) as Record<string, Desc>;
  descs.set(type.typeName, d);
  for (const f of type.fields.list()) {
    let code = Code.OTHER;
    if (f.kind === 'scalar') {
      code = f.T === ScalarType.UINT32 ? Code.U32 : f.T === ScalarType.INT32 ? Code.I32 : f.T === ScalarType.UINT64 ? Code.U64
        : f.T === ScalarType.FLOAT ? Code.FLOAT : f.T === ScalarType.DOUBLE ? Code.DOUBLE : f.T === ScalarType.BOOL ? Code.BOOL
          : f.T === ScalarType.STRING ? Code.STRING : Code.OTHER;
    } else if (f.kind === 'enum') code = Code.ENUM;
    else if (f.kind === 'message') code = f.T.typeName === Timestamp.typeName ? Code.TIMESTAMP : Code.MESSAGE;
    d[f.jsonName] = {
      code, repeated: f.repeated, type: f.kind === 'message' ? f.T : undefined,
      enumNames: f.kind === 'enum' ? new Set<unknown>([...f.T.values.map((x) => x.name), ...f.T.values.map((x) => x.no)]) : undefined,
    };
  }
  return d;
}

const digit = (s: string, i: number) => { const c = s.charCodeAt(i) - 48; return c >= 0 && c <= 9 ? c : -100; };
const two = (s: string, i: number) => digit(s, i) * 10 + digit(s, i + 1);

/** 'YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z', each part in range. */
function fastTimestamp(s: string): boolean {
  const n = s.length;
  if ((n !== 20 && n !== 24 && n !== 27 && n !== 30) || s.charCodeAt(n - 1) !== 90) return false;
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return false;
  if (n > 20) {
    if (s.charCodeAt(19) !== 46) return false;
    for (let i = 20; i < n - 1; i++) if (digit(s, i) < 0) return false;
  }
  const year = two(s, 0) * 100 + two(s, 2);
  const month = two(s, 5);
  const day = two(s, 8);
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= 31 && two(s, 11) >= 0 && two(s, 11) <= 23
    && two(s, 14) >= 0 && two(s, 14) <= 59 && two(s, 17) >= 0 && two(s, 17) <= 59;
}

function fastValue(d: Desc, x: unknown): boolean {
  switch (d.code) {
    case Code.U32: return typeof x === 'number' && x >>> 0 === x;
    case Code.I32: return typeof x === 'number' && (x | 0) === x;
    case Code.U64: return (typeof x === 'number' && Number.isSafeInteger(x) && x >= 0) || (typeof x === 'string' && x.length <= 15 && /^\d+$/.test(x));
    case Code.FLOAT: return typeof x === 'number' && Number.isFinite(x) && Math.abs(x) <= FLOAT32_MAX;
    case Code.DOUBLE: return typeof x === 'number' && Number.isFinite(x);
    case Code.BOOL: return typeof x === 'boolean';
    case Code.STRING: return typeof x === 'string' && x.length * 3 <= MAX_STRING_BYTES;
    case Code.ENUM: return d.enumNames!.has(x);
    case Code.TIMESTAMP: return typeof x === 'string' && fastTimestamp(x);
    case Code.MESSAGE: return fastMessage(d.type!, x);
    default: return false;
  }
}

function fastMessage(type: MessageType, v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const d = descsOf(type);
  for (const k in v) {
    const desc = d[k];
    if (desc === undefined) return false;
    const x = (v as Record<string, unknown>)[k];
    if (x === null) continue;
    if (!desc.repeated) {
      if (!fastValue(desc, x)) return false;
      continue;
    }
    if (!Array.isArray(x)) return false;
    for (let i = 0; i < x.length; i++) if (x[i] === null || !fastValue(desc, x[i])) return false;
  }
  return true;
}

/**
 * Why `json` is not an AnalyticsStat the flush can coalesce (a path and a reason), or
 * undefined if it is one. Counters that LiveKit's isValid() would skip (uint32 >= 2^31,
 * uint64 >= 2^63: a wrapped subtraction in the SFU) are accepted, and skipped at the
 * flush as LiveKit skips them.
 */
export function checkStatJson(json: unknown): string | undefined {
  if (fastMessage(AnalyticsStat, json)) return undefined;
  if (!isObject(json)) return 'must be an object (protobuf JSON)';
  const p = checkMessage(AnalyticsStat, json);
  if (!p) return undefined;
  const path = p.path.reverse().join('.').replace(/\.\[/g, '[');
  return `${path}: ${p.what}`;
}
