import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HOST, LocalServers, parseInfo, pollUntil } from './local-servers';
import type { PrivateRedis } from './server';

/**
 * A real Sentinel setup on this machine, no Docker: a master, one replica of it, and
 * sentinels (`redis-server <conf> --sentinel`) watching them. For `npm run redis:sentinel`
 * and for tests that need a real failover.
 */
export interface LocalSentinelOptions {
  masterName?: string;
  sentinels?: number;
  /** Sentinels that must agree the master is down; 2 of 3 by default. */
  quorum?: number;
  /** Parent of every process's directory, kept on stop; a fresh temp dir (removed on stop) when absent. */
  dir?: string;
  /** Short, so a killed master is failed over in a few seconds rather than 30. */
  downAfterMs?: number;
  /** Also the pause before a failed election is tried again (twice this), so not too long either. */
  failoverTimeoutMs?: number;
  /** How long start() waits for every sentinel to know the master, its replica and the other sentinels. */
  startTimeoutMs?: number;
}

/** `SENTINEL MASTER` and friends answer flat [field, value, ...] arrays. */
function fields(reply: unknown): Record<string, string> {
  const arr = reply as string[];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < arr.length; i += 2) out[arr[i]] = arr[i + 1];
  return out;
}

export class LocalSentinel {
  /** The current master, `127.0.0.1:<port>`: the former replica after waitForFailover(). */
  masterAddress: string;
  /** The master's replica; none once it has taken over (the killed master stays down). */
  replicaAddress: string | null;
  /** The parent of every process's directory. */
  readonly dir: string;

  private constructor(
    readonly masterName: string, private readonly group: LocalServers,
    private master: PrivateRedis, private replica: PrivateRedis | null, private readonly sentinelServers: PrivateRedis[],
  ) {
    this.dir = group.dir;
    this.masterAddress = `${HOST}:${master.port}`;
    this.replicaAddress = replica && `${HOST}:${replica.port}`;
  }

  private get admin() {
    return this.group.admin;
  }

  static async start(opts: LocalSentinelOptions = {}): Promise<LocalSentinel> {
    const name = opts.masterName ?? 'tc-master';
    const count = opts.sentinels ?? 3;
    const quorum = opts.quorum ?? Math.floor(count / 2) + 1;
    const startTimeout = opts.startTimeoutMs ?? 30_000;
    const group = LocalServers.inDir(opts.dir, 'tc-sentinel-');
    const dir = group.dir;
    const admin = group.admin;
    let ls: LocalSentinel | null = null;
    try {
      // a replica's first sync starts at once, not after the default 5 s wait for more replicas
      const noSyncDelay = ['--repl-diskless-sync-delay', '0'];
      const [master] = await group.start([{ dir: path.join(dir, 'master'), extraArgs: noSyncDelay }]);
      const [replica] = await group.start([{
        dir: path.join(dir, 'replica'), extraArgs: [...noSyncDelay, '--replicaof', HOST, String(master.port)],
      }]);
      // Sentinels find replicas in the master's INFO, asked every 10 s: the replica must be
      // there the first time, or start() would wait for the second.
      await pollUntil(async () => {
        const r = parseInfo(String(await admin.call(replica.port, 'INFO', 'replication')));
        if (r.master_link_status !== 'up') return `replica master_link_status:${r.master_link_status}`;
        const m = parseInfo(String(await admin.call(master.port, 'INFO', 'replication')));
        return m.slave0?.includes('state=online') ? true : `master slave0:${m.slave0}`;
      }, 'the replica to sync with the master', startTimeout);
      admin.closeAll();

      const configs = Array.from({ length: count }, (_, i) => {
        const sdir = path.join(dir, `sentinel-${i + 1}`);
        mkdirSync(sdir, { recursive: true });
        const configFile = path.join(sdir, 'sentinel.conf');
        // sentinels rewrite this file with what they learn, so each has its own
        writeFileSync(configFile, [
          `sentinel monitor ${name} ${HOST} ${master.port} ${quorum}`,
          `sentinel down-after-milliseconds ${name} ${opts.downAfterMs ?? 2000}`,
          `sentinel failover-timeout ${name} ${opts.failoverTimeoutMs ?? 10_000}`,
          '',
        ].join('\n'));
        return { dir: sdir, configFile, extraArgs: ['--sentinel'] };
      });
      const sentinels = await group.start(configs);
      ls = new LocalSentinel(name, group, master, replica, sentinels);
      await pollUntil(() => ls!.settled(), 'every sentinel to know the master, its replica and the other sentinels', startTimeout);
      return ls;
    } catch (err) {
      if (ls) await ls.stop();
      else await group.stop();
      throw err;
    }
  }

  /** The sentinels, `127.0.0.1:<port>`. */
  get sentinelAddresses(): string[] {
    return this.sentinelServers.map((s) => `${HOST}:${s.port}`);
  }

  /** The same as ioredis' `sentinels` option takes them. */
  get sentinels(): { host: string; port: number }[] {
    return this.sentinelServers.map((s) => ({ host: HOST, port: s.port }));
  }

  /** The process ids of every process started (master, replica, sentinels), killed ones included; empty once stopped. */
  get pids(): number[] {
    return this.group.pids;
  }

  private async settled(): Promise<true | string> {
    const others = this.sentinelServers.length - 1;
    for (const s of this.sentinelServers) {
      const at = `sentinel ${HOST}:${s.port}`;
      const m = fields(await this.admin.call(s.port, 'SENTINEL', 'MASTER', this.masterName));
      if (m.flags !== 'master' || Number(m.port) !== this.master.port) return `${at}: master ${m.ip}:${m.port} flags ${m.flags}`;
      const replicas = (await this.admin.call(s.port, 'SENTINEL', 'REPLICAS', this.masterName) as unknown[]).map(fields);
      const ok = replicas.filter((r) => r.flags === 'slave' && r['master-link-status'] === 'ok');
      if (ok.length !== 1 || Number(ok[0].port) !== this.replica?.port) return `${at}: ${ok.length} healthy replicas`;
      const sentinels = await this.admin.call(s.port, 'SENTINEL', 'SENTINELS', this.masterName) as unknown[];
      if (sentinels.length !== others) return `${at}: knows ${sentinels.length} of ${others} other sentinels`;
    }
    return true;
  }

  /** SIGKILLs the master, as a crash would; waitForFailover() then waits for the sentinels to promote the replica. */
  async killMaster(): Promise<void> {
    this.admin.drop(this.master.port);
    await this.master.kill();
  }

  /** Waits until every sentinel names the former replica as the master and it says it is one. */
  async waitForFailover(timeoutMs = 45_000): Promise<string> {
    const replica = this.replica;
    if (!replica) throw new Error('no replica left to take over');
    if (this.master.running) throw new Error('waitForFailover() without a killMaster() before it');
    await pollUntil(async () => {
      for (const s of this.sentinelServers) {
        const [ip, port] = await this.admin.call(s.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.masterName) as string[];
        if (Number(port) !== replica.port) return `sentinel ${HOST}:${s.port} names ${ip}:${port}`;
      }
      const [role] = await this.admin.call(replica.port, 'ROLE') as string[];
      return role === 'master' ? true : `${HOST}:${replica.port} is still a ${role}`;
    }, `the sentinels to promote ${HOST}:${replica.port}`, timeoutMs);
    this.master = replica;
    this.replica = null;
    this.masterAddress = `${HOST}:${replica.port}`;
    this.replicaAddress = null;
    return this.masterAddress;
  }

  /** Stops every process (SIGTERM, waits for each to exit) and removes the temp dir. */
  async stop(): Promise<void> {
    // sentinels first, so none starts a failover while the master stops
    await this.group.stop(this.sentinelServers);
  }
}
