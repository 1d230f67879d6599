import pino, { type Logger } from 'pino';

/** The process logger: JSON lines; secrets and tokens are redacted wherever they appear. */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { pid: process.pid, ...base },
    redact: {
      paths: ['apiSecret', '*.apiSecret', 'secret', '*.secret', 'token', '*.token', 'authorization', '*.authorization', 'req.headers.authorization', 'redisUrl', '*.redisUrl'],
      censor: '[redacted]',
    },
  });
}
