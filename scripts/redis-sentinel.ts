/**
 * Redis Sentinel on this machine, no Docker: a master, its replica and 3 sentinels, each
 * a redis-server in its own temp directory, until Ctrl-C (or SIGTERM) stops them all and
 * removes the directory. Prints the settings that name it:
 *
 *   npm run redis:sentinel
 *   REDIS_SENTINEL_ADDRESSES=127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3 REDIS_SENTINEL_MASTER_NAME=tc-master
 */
import { LocalSentinel } from '../lib/redis/local-sentinel';

const starting = LocalSentinel.start();
let stopping = false;

function stop(signal: NodeJS.Signals): void {
  // a terminal's Ctrl-C reaches npm and tsx too, which pass it on: the same signal may come twice
  if (stopping) return;
  stopping = true;
  process.stderr.write(`${signal}: stopping the sentinels, the master and its replica\n`);
  starting
    .then((sentinel) => sentinel.stop(), () => {})
    .then(() => process.exit(0), (err: Error) => { console.error(err); process.exit(1); });
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

starting.then((sentinel) => {
  if (stopping) return;
  console.log(`REDIS_SENTINEL_ADDRESSES=${sentinel.sentinelAddresses.join(',')} REDIS_SENTINEL_MASTER_NAME=${sentinel.masterName}`);
  process.stderr.write(
    `master ${sentinel.masterAddress}, replica ${sentinel.replicaAddress}, data in ${sentinel.dir}; Ctrl-C stops them\n`,
  );
  // the redis-server children would keep the process alive too, but not if one dies on its own
  setInterval(() => {}, 1 << 30);
}, (err: Error) => {
  console.error(err.message);
  process.exit(1);
});
