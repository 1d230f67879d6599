import pino, { type Logger } from 'pino';
import { redactWebhookUrl } from './webhook-url';

/**
 * JSON lines (pino's own), or pretty lines for a person at a terminal: pino's pretty
 * transport (pino-pretty, on a thread of its own), one coloured line per entry as
 * `livekit-server --dev` prints. loadOptions chooses (Options.logFormat).
 */
export type LogFormat = 'json' | 'pretty';

/** pino-pretty's settings: the time of day, the level, the message, then the fields on the same line. */
const PRETTY = { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,node', singleLine: true };

/**
 * An absolute http(s) URL under a `url` or `urls` field is a webhook receiver's: shown by its
 * origin and tag, its path and query (where receivers keep their secrets) left out. A request
 * path (`/v1/telemetry`) is shown as it is.
 */
const absolute = /^https?:\/\//i;
const shownUrl = (v: unknown) => (typeof v === 'string' && absolute.test(v) ? redactWebhookUrl(v) : v);
const SERIALIZERS = { url: shownUrl, urls: (v: unknown) => (Array.isArray(v) ? v.map(shownUrl) : shownUrl(v)) };

/** The process logger: JSON lines unless told `pretty`; secrets, tokens and webhook URLs' paths are redacted wherever they appear. */
export function createLogger(level: string, base: Record<string, unknown> = {}, format: LogFormat = 'json'): Logger {
  return pino({
    ...(format === 'pretty' ? { transport: { target: 'pino-pretty', options: PRETTY } } : {}),
    level,
    base: { pid: process.pid, ...base },
    serializers: SERIALIZERS,
    redact: {
      paths: ['apiSecret', '*.apiSecret', 'secret', '*.secret', 'token', '*.token', 'authorization', '*.authorization', 'req.headers.authorization', 'redis.password', '*.redis.password', 'redis.sentinelPassword', '*.redis.sentinelPassword'],
      censor: '[redacted]',
    },
  });
}

/**
 * A listener for a connection's 'error' events: while Redis is down they come many times a
 * second, so each distinct error is logged once per `everyMs`. Without a listener, ioredis
 * and BullMQ print every one of them to stderr.
 */
export function logConnectionErrors(log: Logger, what: string, everyMs = 10_000): (err: Error) => void {
  const last = new Map<string, number>();
  return (err) => {
    const now = Date.now();
    if ((last.get(err.message) ?? 0) + everyMs > now) return;
    last.set(err.message, now);
    log.warn({ err: err.message, what }, 'connection error');
  };
}
