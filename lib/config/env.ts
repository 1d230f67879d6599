/** The environment as the loaders read it (`process.env`, or a test's own object). */
export type Env = Record<string, string | undefined>;

/**
 * A setting that cannot be used; start-up stops with its message. The value is shown with
 * any credentials it may hold hidden (redactUrl), whichever setting it is: the message goes
 * to the node's output, read by whoever reads its logs.
 */
export class ConfigError extends Error {
  readonly value: string;

  constructor(readonly variable: string, value: string, readonly accepted: string) {
    const shown = redactUrl(value);
    super(`${variable}=${JSON.stringify(shown)} is not valid: expected ${accepted}`);
    this.value = shown;
    this.name = 'ConfigError';
  }
}

/**
 * A URL, or a list of them, as an error may show it: everything from the first `//` (or the
 * start) to the last `@` replaced by `***`. A bad setting's value is often no valid URL, and
 * its password may hold `/`, `,` or `@` unescaped: this hides too much rather than too little.
 */
export function redactUrl(text: string): string {
  const at = text.lastIndexOf('@');
  if (at < 0) return text;
  const slashes = text.indexOf('//');
  const from = slashes >= 0 && slashes < at ? slashes + 2 : 0;
  return `${text.slice(0, from)}***${text.slice(at)}`;
}

const SIZE = /^(\d+)\s*(b|kb|mb)?$/i;

/** A size in bytes: 100000, 512kb, 1mb; null if it is not one. */
export function parseSize(raw: string): number | null {
  const m = SIZE.exec(raw.trim());
  if (!m) return null;
  return Number(m[1]) * ({ b: 1, kb: 1024, mb: 1024 * 1024 } as Record<string, number>)[(m[2] ?? 'b').toLowerCase()];
}
