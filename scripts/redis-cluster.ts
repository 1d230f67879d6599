/**
 * A Redis Cluster on this machine, no Docker: 3 masters and 3 replicas, each a
 * redis-server in its own temp directory, until Ctrl-C (or SIGTERM) stops them all and
 * removes the directory. Prints the setting that names it:
 *
 *   npm run redis:cluster
 *   REDIS_CLUSTER_ADDRESSES=127.0.0.1:p1,127.0.0.1:p2,...
 */
import { LocalCluster } from '../lib/redis/local-cluster';

const starting = LocalCluster.start();
let stopping = false;

function stop(signal: NodeJS.Signals): void {
  // a terminal's Ctrl-C reaches npm and tsx too, which pass it on: the same signal may come twice
  if (stopping) return;
  stopping = true;
  process.stderr.write(`${signal}: stopping the cluster\n`);
  starting
    .then((cluster) => cluster.stop(), () => {})
    .then(() => process.exit(0), (err: Error) => { console.error(err); process.exit(1); });
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

starting.then((cluster) => {
  if (stopping) return;
  console.log(`REDIS_CLUSTER_ADDRESSES=${cluster.addresses.join(',')}`);
  process.stderr.write(
    `${cluster.masters.length} masters, ${cluster.replicas.length} replicas, data in ${cluster.dir}; Ctrl-C stops them\n`,
  );
  // the redis-server children would keep the process alive too, but not if one dies on its own
  setInterval(() => {}, 1 << 30);
}, (err: Error) => {
  console.error(err.message);
  process.exit(1);
});
