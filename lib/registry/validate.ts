/** Thrown before anything is written when a registry call's arguments cannot be used. */
export class InvalidRequestError extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'InvalidRequestError';
  }
}

const MAX_ID = 256;

/** Room and participant ids form the worker id `<roomId>|<participantId>`, so no '|'. */
export function requireId(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidRequestError(field, 'must be a non-empty string');
  if (value.length > MAX_ID) throw new InvalidRequestError(field, `must be at most ${MAX_ID} characters`);
  if (value.includes('|')) throw new InvalidRequestError(field, "must not contain '|'");
  return value;
}

export function optionalText(field: string, value: unknown, max = 65536): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new InvalidRequestError(field, 'must be a string');
  if (value.length > max) throw new InvalidRequestError(field, `must be at most ${max} characters`);
  return value;
}

export function optionalGuard(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string' || value.length === 0) throw new InvalidRequestError('guard', 'must be a non-empty string when present');
  if (value.length > MAX_ID) throw new InvalidRequestError('guard', `must be at most ${MAX_ID} characters`);
  return value;
}
