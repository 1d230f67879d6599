import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import { LocalCluster } from '../../lib/redis/local-cluster';
import { LocalSentinel } from '../../lib/redis/local-sentinel';
import { PrivateRedis } from '../../lib/redis/server';
import { keySlot } from '../../lib/telemetry/replica-wait';

/**
 * The Redis a simulation runs its coordinator nodes on: one private redis-server, a master
 * and replica behind three sentinels, or a cluster of 3 masters + 3 replicas, all
 * redis-server processes on this machine. `failover()` does to it what a crashed master
 * does in production, and what its operator's supervisor does after.
 */
export type TopologyKind = 'single' | 'sentinel' | 'cluster';
export const TOPOLOGY_KINDS: TopologyKind[] = ['single', 'sentinel', 'cluster'];

export interface FailoverReport {
  /** The master SIGKILLed, `host:port`. */
  killed: string;
  /** The replica that took over. */
  promoted: string;
  /** Date.now() of the SIGKILL. */
  killedAt: number;
  /** From the SIGKILL until the replica served as master (as the sentinels / the cluster see it). */
  promotedMs: number;
  /** From the SIGKILL until the killed server was back, in sync, as the new master's replica. */
  restoredMs: number;
  /** How long the replica was cut off from the master before the kill (the master's writes not reaching it). */
  lagMs: number;
}

export interface Topology {
  kind: TopologyKind;
  /** For the progress line. */
  describe: string;
  /** The settings a coordinator node needs to use it. */
  env: Record<string, string>;
  /** The private redis-server of `single` (the one --chaos kills and restarts). */
  readonly server: PrivateRedis;
  /**
   * Cuts the replica off for `lagMs` if asked, so writes the master acknowledges meanwhile
   * do not reach it; SIGKILLs the master (on a cluster, the one holding the most
   * registry shards); resumes the replica; waits for it to be promoted; starts the killed
   * server again, in its own directory, as the new master's replica, as a supervisor would.
   */
  failover(opts?: { lagMs?: number; registryShards?: number }): Promise<FailoverReport>;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function redisPid(port: number): Promise<number> {
  const r = new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    return Number(/process_id:(\d+)/.exec(await r.info('server'))![1]);
  } finally {
    r.disconnect();
  }
}

/** Polls a redis-server until `check` of its INFO replication is true. */
async function untilReplication(port: number, check: (info: string) => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const r = new Redis({ host: HOST, port, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
  r.on('error', () => {});
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const info = await r.info('replication').catch(() => '');
      if (check(info)) return;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
      await sleep(100);
    }
  } finally {
    r.disconnect();
  }
}

/**
 * A replica cut off from its master for `ms`, then `crash` (the master's kill) run: as a
 * network partition would, before a crash. Pausing the replica alone is not enough: on
 * loopback the master's stream would wait in the replica's socket buffer and be read on
 * SIGCONT. So the replica is SIGSTOPped (it cannot reconnect) and the master drops its
 * replication link (CLIENT KILL TYPE replica): what the master acknowledges from then on is
 * in its own memory only. The replica is resumed whatever happened.
 */
async function cutOff<T>(replicaPid: number | undefined, masterPort: number, ms: number, crash: () => Promise<T>): Promise<T> {
  if (!replicaPid || ms <= 0) return crash();
  process.kill(replicaPid, 'SIGSTOP');
  try {
    const master = new Redis({ host: HOST, port: masterPort, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await master.call('CLIENT', 'KILL', 'TYPE', 'replica');
    } finally {
      master.disconnect();
    }
    await sleep(ms);
    return await crash();
  } finally {
    process.kill(replicaPid, 'SIGCONT');
  }
}

class Single implements Topology {
  kind = 'single' as const;
  constructor(readonly server: PrivateRedis) {}
  get describe() { return `redis-server :${this.server.port}`; }
  get env() { return { REDIS_URL: this.server.url }; }
  async failover(): Promise<FailoverReport> {
    throw new Error('a single redis-server has no replica to fail over to: use --redis sentinel or --redis cluster');
  }
  stop() { return this.server.stop(); }
}

abstract class Replicated {
  protected restored: PrivateRedis | null = null;
  get server(): PrivateRedis {
    throw new Error('--chaos kills and restarts a single redis-server: run it with --redis single');
  }
}

class Sentinel extends Replicated implements Topology {
  kind = 'sentinel' as const;
  constructor(private readonly ls: LocalSentinel) { super(); }
  get describe() { return `master ${this.ls.masterAddress} + replica ${this.ls.replicaAddress} behind sentinels ${this.ls.sentinelAddresses.join(',')}`; }
  get env() {
    return { REDIS_URL: '', REDIS_SENTINEL_ADDRESSES: this.ls.sentinelAddresses.join(','), REDIS_SENTINEL_MASTER_NAME: this.ls.masterName };
  }

  async failover({ lagMs = 0 } = {}): Promise<FailoverReport> {
    const killed = this.ls.masterAddress;
    const replicaPid = await redisPid(Number(this.ls.replicaAddress!.split(':')[1]));
    let killedAt = 0;
    await cutOff(replicaPid, Number(killed.split(':')[1]), lagMs, async () => {
      killedAt = Date.now();
      await this.ls.killMaster();
    });
    const promoted = await this.ls.waitForFailover(60_000);
    const promotedMs = Date.now() - killedAt;
    // LocalSentinel keeps each server in <dir>/master, <dir>/replica: the killed one comes back there, following the new master
    this.restored = await PrivateRedis.start({
      dir: path.join(this.ls.dir, 'master'), port: Number(killed.split(':')[1]),
      extraArgs: ['--repl-diskless-sync-delay', '0', '--replicaof', HOST, promoted.split(':')[1]],
    });
    await untilReplication(Number(promoted.split(':')[1]), (i) => /slave0:.*state=online/.test(i), `${killed} to sync with ${promoted}`);
    return { killed, promoted, killedAt, promotedMs, restoredMs: Date.now() - killedAt, lagMs };
  }

  async stop() {
    await this.restored?.stop();
    await this.ls.stop();
  }
}

class ClusterTopology extends Replicated implements Topology {
  kind = 'cluster' as const;
  constructor(private readonly c: LocalCluster) { super(); }
  get describe() { return `cluster of ${this.c.masters.length} masters + ${this.c.replicas.length} replicas (${this.c.addresses.join(',')})`; }
  get env() { return { REDIS_URL: '', REDIS_CLUSTER_ADDRESSES: this.c.addresses.join(',') }; }

  async failover({ lagMs = 0, registryShards = 16 } = {}): Promise<FailoverReport> {
    // the master holding the most registry shards ({s<n>} hash tags): the most rooms lose their master
    const owns = (m: { slots: [number, number][] }, slot: number) => m.slots.some(([a, b]) => slot >= a && slot <= b);
    const shardsOf = this.c.masters.map((m) => Array.from({ length: registryShards }, (_, n) => keySlot(`s${n}`)).filter((s) => owns(m, s)).length);
    const i = shardsOf.indexOf(Math.max(...shardsOf));
    const victim = this.c.masters[i];
    const replica = this.c.replicas.find((r) => r.masterId === victim.id);
    let killedAt = 0;
    await cutOff(replica?.pid, victim.port, lagMs, async () => {
      killedAt = Date.now();
      await this.c.killMaster(i);
    });
    const promoted = await this.c.waitForFailover(60_000);
    const promotedMs = Date.now() - killedAt;
    // the killed node comes back from its own directory (nodes.conf keeps its id and bus port) and the cluster makes it the new master's replica
    const dir = readdirSync(this.c.dir).map((d) => path.join(this.c.dir, d))
      .find((d) => { try { return readFileSync(path.join(d, 'nodes.conf'), 'utf8').includes(`${victim.id} `); } catch { return false; } });
    const me = dir && readFileSync(path.join(dir, 'nodes.conf'), 'utf8').split('\n').find((l) => l.startsWith(`${victim.id} `) && l.includes('myself'));
    const busPort = me && /@(\d+)/.exec(me)?.[1];
    if (!dir || !busPort) throw new Error(`cannot find the directory and bus port of ${victim.address} to start it again`);
    this.restored = await PrivateRedis.start({
      dir, port: victim.port, appendOnly: true,
      extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', busPort, '--cluster-node-timeout', '2000', '--repl-diskless-sync-delay', '0'],
    });
    await untilReplication(victim.port, (info) => /role:slave/.test(info) && /master_link_status:up/.test(info), `${victim.address} to follow ${promoted.address}`);
    return { killed: victim.address, promoted: promoted.address, killedAt, promotedMs, restoredMs: Date.now() - killedAt, lagMs };
  }

  async stop() {
    await this.restored?.stop();
    await this.c.stop();
  }
}

/** Starts the topology; `appendOnly` only for `single` (--chaos restarts it from its file). */
export async function startTopology(kind: TopologyKind, opts: { appendOnly?: boolean } = {}): Promise<Topology> {
  if (kind === 'sentinel') return new Sentinel(await LocalSentinel.start());
  if (kind === 'cluster') return new ClusterTopology(await LocalCluster.start());
  return new Single(await PrivateRedis.start({ appendOnly: opts.appendOnly }));
}
