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

type Fields = Map<string, FieldInfo>;
const schemas = new Map<string, Fields>();

function fieldsOf(type: MessageType): Fields {
  let fields = schemas.get(type.typeName);
  if (!fields) {
    fields = new Map();
    // protobuf JSON takes the lowerCamelCase name and the proto name alike
    for (const f of type.fields.list()) {
      fields.set(f.jsonName, f);
      fields.set(f.name, f);
    }
    schemas.set(type.typeName, fields);
  }
  return fields;
}

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
      let b: bigint;
      if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
      else if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) b = BigInt(v);
      else return what;
      return (unsigned ? b >= 0n && b <= UINT64_MAX : b >= INT64_MIN && b <= INT64_MAX) ? undefined : what;
    }
    case ScalarType.BOOL:
      return typeof v === 'boolean' ? undefined : 'must be true or false';
    case ScalarType.STRING:
      if (typeof v !== 'string') return 'must be a string';
      return Buffer.byteLength(v) <= MAX_STRING_BYTES ? undefined : `must be at most ${MAX_STRING_BYTES} bytes`;
    default:
      return 'is not accepted in a stat';
  }
}

function checkTimestamp(v: unknown): string | undefined {
  if (typeof v !== 'string') return 'must be an RFC 3339 timestamp string';
  try {
    Timestamp.fromJson(v);
    return undefined;
  } catch {
    return 'must be an RFC 3339 timestamp between years 0001 and 9999';
  }
}

function checkValue(f: FieldInfo, v: unknown, path: string): string | undefined {
  switch (f.kind) {
    case 'scalar': {
      const e = checkScalar(f.T, v);
      return e && `${path}: ${e}`;
    }
    case 'enum': {
      if (typeof v === 'string' && f.T.values.some((x) => x.name === v)) return undefined;
      if (typeof v === 'number' && f.T.values.some((x) => x.no === v)) return undefined;
      return `${path}: must be one of ${f.T.values.map((x) => x.name).join(', ')}`;
    }
    case 'message': {
      if (f.T.typeName === Timestamp.typeName) {
        const e = checkTimestamp(v);
        return e && `${path}: ${e}`;
      }
      return checkMessage(f.T, v, path);
    }
    default:
      return `${path}: is not accepted in a stat`;
  }
}

function checkMessage(type: MessageType, v: unknown, path: string): string | undefined {
  if (!isObject(v)) return path ? `${path}: must be an object` : 'must be an object (protobuf JSON)';
  const fields = fieldsOf(type);
  for (const name of Object.keys(v)) {
    const f = fields.get(name);
    if (!f) return `${path ? `${path}.` : ''}${name}: not a field of ${type.typeName}`;
    const value = v[name];
    // protobuf JSON: null is the field's default
    if (value === null) continue;
    const at = path ? `${path}.${name}` : name;
    if (f.repeated) {
      if (!Array.isArray(value)) return `${at}: must be an array`;
      for (let i = 0; i < value.length; i++) {
        if (value[i] === null) return `${at}[${i}]: must not be null`;
        const e = checkValue(f, value[i], `${at}[${i}]`);
        if (e) return e;
      }
      continue;
    }
    const e = checkValue(f, value, at);
    if (e) return e;
  }
  return undefined;
}

/**
 * Why `json` is not an AnalyticsStat the flush can coalesce (a path and a reason), or
 * undefined if it is one. Counters that LiveKit's isValid() would skip (uint32 >= 2^31,
 * uint64 >= 2^63: a wrapped subtraction in the SFU) are accepted, and skipped at the
 * flush as LiveKit skips them.
 */
export function checkStatJson(json: unknown): string | undefined {
  return checkMessage(AnalyticsStat, json, '');
}
