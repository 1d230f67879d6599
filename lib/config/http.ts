import { ConfigError, parseSize, type Env } from './env';

/**
 * The node's HTTP settings. Kept here rather than in lib/http: the HTTP layer sits above the
 * Coordinator, which reads Options, so Options cannot take a type from it.
 */
export interface NodeHttpOptions {
  port: number;
  apiKey: string;
  apiSecret: string;
  /** The keys are livekit-server --dev's: devkey / secret. */
  devKeys: boolean;
  maxBodyBytes: number;
}

/** PORT, API_KEY / API_SECRET (dev keys unless NODE_ENV=production), MAX_BODY. */
export function loadHttpOptions(env: Env): NodeHttpOptions {
  const portRaw = env.PORT?.trim() || '7890';
  const port = Number(portRaw);
  if (!/^\d+$/.test(portRaw) || port < 1 || port > 65535) throw new ConfigError('PORT', portRaw, 'a port number from 1 to 65535');
  const sizeRaw = env.MAX_BODY?.trim() || '1mb';
  const maxBodyBytes = parseSize(sizeRaw);
  if (maxBodyBytes === null) throw new ConfigError('MAX_BODY', sizeRaw, 'a size such as 1mb, 512kb or 100000');
  const apiKey = env.API_KEY?.trim() ?? '';
  const apiSecret = env.API_SECRET?.trim() ?? '';
  if (!apiKey || !apiSecret) {
    if (env.NODE_ENV === 'production') throw new ConfigError('API_KEY', apiKey ? '(set)' : '', 'API_KEY and API_SECRET both set when NODE_ENV=production');
    return { port, apiKey: 'devkey', apiSecret: 'secret', devKeys: true, maxBodyBytes };
  }
  return { port, apiKey, apiSecret, devKeys: false, maxBodyBytes };
}
