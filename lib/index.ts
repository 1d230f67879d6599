export { loadOptions, ConfigError, type Options } from './config/options';
export { parseDuration } from './config/duration';
export { createRedis, type RedisClient } from './redis/connection';
export { PrivateRedis } from './redis/server';
export { KeySpace } from './redis/keys';
export { WorkerRegistry } from './registry/registry';
export { InvalidRequestError } from './registry/validate';
export type * from './registry/types';
