/**
 * Redis Sentinel on this machine, no Docker: a master, its replica and 3 sentinels, each
 * a redis-server in its own temp directory, until Ctrl-C (or SIGTERM) stops them all and
 * removes the directory. Prints the settings that name it:
 *
 *   npm run redis:sentinel
 *   REDIS_SENTINEL_ADDRESSES=127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3 REDIS_SENTINEL_MASTER_NAME=tc-master
 */
import { LocalSentinel } from '../lib/redis/local-sentinel';
import { runUntilSignal } from './support/run-until-signal';

runUntilSignal(
  LocalSentinel.start(), 'the sentinels, the master and its replica',
  (sentinel) => `REDIS_SENTINEL_ADDRESSES=${sentinel.sentinelAddresses.join(',')} REDIS_SENTINEL_MASTER_NAME=${sentinel.masterName}`,
  (sentinel) => `master ${sentinel.masterAddress}, replica ${sentinel.replicaAddress}, data in ${sentinel.dir}`,
);
