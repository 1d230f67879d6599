/**
 * A Redis Cluster on this machine, no Docker: 3 masters and 3 replicas, each a
 * redis-server in its own temp directory, until Ctrl-C (or SIGTERM) stops them all and
 * removes the directory. Prints the setting that names it:
 *
 *   npm run redis:cluster
 *   REDIS_CLUSTER_ADDRESSES=127.0.0.1:p1,127.0.0.1:p2,...
 */
import { LocalCluster } from '../lib/redis/local-cluster';
import { runUntilSignal } from './support/run-until-signal';

runUntilSignal(
  LocalCluster.start(), 'the cluster',
  (cluster) => `REDIS_CLUSTER_ADDRESSES=${cluster.addresses.join(',')}`,
  (cluster) => `${cluster.masters.length} masters, ${cluster.replicas.length} replicas, data in ${cluster.dir}`,
);
