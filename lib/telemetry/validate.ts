import { AnalyticsStat, ParticipantInfo, Room, TrackInfo } from '@livekit/protocol';
import { InvalidRequestError } from '../registry/validate';
import { METHODS, NAME_BYTES, STATS_KEY_FIELDS, isMethod, type FieldSpec, type Kind, type Method } from './methods';
import { checkStatJson } from './stat-json';

/** What a call may carry, beyond the protobuf types. */
export interface CallLimits {
  /** Room and participant metadata (LiveKit's limits.max_metadata_size, 512 KiB by default). */
  maxMetadataBytes: number;
}

export const CALL_LIMITS: CallLimits = { maxMetadataBytes: 512 * 1024 };

/** A batch that cannot be applied: the first bad event and field; nothing of the batch was applied. */
export class InvalidEventError extends Error {
  constructor(readonly code: string, message: string, readonly index?: number) {
    super(message);
    this.name = 'InvalidEventError';
  }
}

/** A call as the fleet applies it: `id` makes it idempotent (scoped by the sending SFU node). */
export interface TelemetryCall {
  method: Method;
  id?: string;
  args: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// a string of n UTF-16 units is at most 3n bytes: only long ones are measured
const bytesOver = (s: string, max: number) => s.length * 3 > max && Buffer.byteLength(s) > max;

function checkId(v: unknown): string | undefined {
  if (typeof v !== 'string' || v.length === 0) return 'must be a non-empty string';
  if (bytesOver(v, NAME_BYTES)) return `must be at most ${NAME_BYTES} bytes`;
  // ids form Redis keys and records: '<roomId>|<participantId>', one record per line
  if (v.includes('|')) return "must not contain '|'";
  if (v.includes('\n')) return 'must not contain a newline';
  return undefined;
}

/** An id as the API takes it (a node id, a room sid): 1 to 256 bytes, no '|' or newline. */
export function readId(field: string, value: unknown): string {
  const problem = checkId(value);
  if (problem) throw new InvalidRequestError(field, problem);
  return value as string;
}

function checkText(v: unknown, max: number, line = false): string | undefined {
  if (typeof v !== 'string') return 'must be a string';
  if (bytesOver(v, max)) return `must be at most ${max} bytes`;
  if (line && v.includes('\n')) return 'must not contain a newline';
  return undefined;
}

/** Sizes protobuf does not bound: names and ids, and metadata up to the limit. */
function checkMessage(v: object, ids: string[] | undefined, limits: CallLimits): [field: string, what: string] | undefined {
  const fields = v as Record<string, unknown>;
  for (const f of ids ?? []) {
    const e = checkId(fields[f]);
    if (e) return [f, e];
  }
  let names: string[] = [];
  if (v instanceof Room || v instanceof ParticipantInfo) {
    if (bytesOver(v.metadata, limits.maxMetadataBytes)) return ['metadata', `must be at most ${limits.maxMetadataBytes} bytes`];
    names = v instanceof Room ? ['sid', 'name'] : ['sid', 'identity', 'name'];
  } else if (v instanceof TrackInfo) {
    names = ['sid', 'name'];
  }
  for (const f of names) {
    if (bytesOver(fields[f] as string, NAME_BYTES)) return [f, `must be at most ${NAME_BYTES} bytes`];
  }
  return undefined;
}

function enumValue(values: Record<string, string | number>, v: unknown): string | number | undefined {
  if (typeof v === 'string' && Object.hasOwn(values, v) && Number.isNaN(Number(v))) return values[v];
  if (typeof v === 'number' && typeof values[v] === 'string') return v;
  return undefined;
}

/** What is wrong with a field, thrown by readField; readFields adds where the field is. */
class FieldProblem {
  constructor(readonly what: string, readonly sub?: string) {}
}

/**
 * Reads one field. `wire`: the value is protobuf JSON off the wire (messages are parsed
 * into their classes); otherwise it is what an in-process caller passed (classes, or a
 * stat in either form). Returns the value to apply, or throws a FieldProblem.
 */
function readField(kind: Kind, v: unknown, wire: boolean, limits: CallLimits): unknown {
  let e: string | undefined;
  switch (kind.t) {
    case 'id': e = checkId(v); break;
    case 'text': e = checkText(v, kind.max, kind.line); break;
    case 'boolean': if (typeof v !== 'boolean') e = 'must be true or false'; break;
    case 'int32': if (!Number.isInteger(v) || (v as number) < -(2 ** 31) || (v as number) >= 2 ** 31) e = 'must be an int32'; break;
    case 'enum': {
      const value = enumValue(kind.values, v);
      if (value === undefined) throw new FieldProblem(`must be one of ${Object.keys(kind.values).filter((k) => Number.isNaN(Number(k))).join(', ')}`);
      return value;
    }
    case 'owner':
      // an in-process caller names the guard's owner itself
      if (wire) throw new FieldProblem('is set from the batch (its nodeId), not per event');
      e = checkId(v);
      break;
    case 'key':
      if (!isObject(v)) throw new FieldProblem('must be an object { streamType, participantId, trackId }');
      try {
        return readFields('StatsKey', STATS_KEY_ENTRIES, v, wire, limits);
      } catch (err) {
        if (err instanceof InvalidRequestError) throw new FieldProblem(err.message.slice(err.field.length + 2), err.field);
        throw err;
      }
    case 'stat':
      e = checkStatJson(v instanceof AnalyticsStat ? v.toJson() : v);
      if (e) e = `not an AnalyticsStat the flush can coalesce: ${e}`;
      break;
    case 'message': {
      let msg: object;
      if (wire) {
        if (!isObject(v)) throw new FieldProblem('must be an object (protobuf JSON)');
        try { msg = kind.type.fromJson(v); } catch (err) { throw new FieldProblem((err as Error).message); }
      } else {
        if (!(v instanceof kind.type)) throw new FieldProblem(`must be a ${kind.type.typeName}`);
        msg = v as object;
      }
      const bad = checkMessage(msg, kind.ids, limits);
      if (bad) throw new FieldProblem(bad[1], bad[0]);
      return msg;
    }
  }
  if (e) throw new FieldProblem(e);
  return v;
}

/** A method's fields as a list and a name set, made once: the hot path reads them per event. */
interface Entries {
  list: [name: string, spec: FieldSpec][];
  names: Set<string>;
}
const entriesOf = new WeakMap<object, Entries>();
function entries(fields: Record<string, FieldSpec>): Entries {
  let e = entriesOf.get(fields);
  if (!e) entriesOf.set(fields, (e = { list: Object.entries(fields), names: new Set(Object.keys(fields)) }));
  return e;
}
const STATS_KEY_ENTRIES = entries(STATS_KEY_FIELDS);

function readFields(of: string, fields: Entries, input: Record<string, unknown>, wire: boolean, limits: CallLimits): Record<string, unknown> {
  for (const name in input) {
    if (!fields.names.has(name) && Object.hasOwn(input, name) && (wire || input[name] !== undefined)) {
      throw new InvalidRequestError(name, `not a field of ${of}`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of fields.list) {
    const v = input[name];
    if (v === undefined || v === null) {
      if (spec.required) throw new InvalidRequestError(name, `required by ${of}`);
      continue;
    }
    try {
      out[name] = readField(spec.kind, v, wire, limits);
    } catch (err) {
      if (err instanceof FieldProblem) throw new InvalidRequestError(err.sub ? `${name}.${err.sub}` : name, err.what);
      throw err;
    }
  }
  return out;
}

/**
 * Checks an in-process call against the method's table entry (types, ids, sizes, a stat
 * the flush can coalesce) before its first write. Throws InvalidRequestError naming the field.
 */
export function validateCall(method: Method, args: object, limits: CallLimits = CALL_LIMITS): void {
  if (!isObject(args)) throw new InvalidRequestError('args', 'must be an object');
  const read = readFields(method, entries(METHODS[method].fields as Record<string, FieldSpec>), args as Record<string, unknown>, false, limits);
  if (METHODS[method].guarded && read.guard !== undefined && read.nodeId === undefined) {
    throw new InvalidRequestError('nodeId', 'required with a guard (the SFU node that owns it)');
  }
}

/**
 * Reads one event of a batch off the wire: its method (an own entry of the table), its id,
 * and its fields, every one checked. Throws InvalidEventError naming the event and field.
 */
export function decodeEvent(raw: unknown, index: number, limits: CallLimits = CALL_LIMITS): TelemetryCall {
  if (!isObject(raw)) throw new InvalidEventError('invalid_event', `events[${index}]: must be an object`, index);
  const { method, id, ...rest } = raw;
  if (!isMethod(method)) {
    const shown = typeof method === 'string' ? JSON.stringify(method.slice(0, 64)) : typeof method;
    throw new InvalidEventError('unknown_method', `events[${index}].method: ${shown} is not a TelemetryService method`, index);
  }
  if (id !== undefined && (typeof id !== 'string' || id.length === 0 || bytesOver(id, NAME_BYTES))) {
    throw new InvalidEventError('invalid_field', `events[${index}].id: must be a string of 1 to ${NAME_BYTES} bytes`, index);
  }
  try {
    const args = readFields(method, entries(METHODS[method].fields as Record<string, FieldSpec>), rest, true, limits);
    return { method, id: id as string | undefined, args };
  } catch (e) {
    if (!(e instanceof InvalidRequestError)) throw e;
    const code = /: required by \w+$/.test(e.message) ? 'missing_field' : 'invalid_field';
    throw new InvalidEventError(code, `events[${index}].${e.message}`, index);
  }
}

/** Reads a whole batch before anything is applied; throws on its first bad event. */
export function decodeEvents(events: unknown, limits: CallLimits = CALL_LIMITS, maxEvents = 1000): TelemetryCall[] {
  if (!Array.isArray(events)) throw new InvalidEventError('invalid_body', 'events: must be an array');
  if (events.length === 0 || events.length > maxEvents) {
    throw new InvalidEventError('invalid_body', `events: must hold 1 to ${maxEvents} events (got ${events.length})`);
  }
  return events.map((raw, index) => decodeEvent(raw, index, limits));
}
