import pino, { type Logger } from 'pino';

/** The process logger: JSON lines; secrets and tokens are redacted wherever they appear. */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { pid: process.pid, ...base },
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
