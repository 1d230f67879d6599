import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePorts, HOST, LocalServers, parseInfo, pollUntil } from './local-servers';

/**
 * A real Redis Cluster on this machine, no Docker: one redis-server per node, each in its
 * own directory, joined with `redis-cli --cluster create`. For `npm run redis:cluster` and
 * for tests that need slots, MOVED and failovers to be real.
 */
export interface LocalClusterOptions {
  /** redis-cli will not create a cluster of fewer than 3 masters. */
  masters?: number;
  replicasPerMaster?: number;
  /** Parent of the nodes' directories, kept on stop; a fresh temp dir (removed on stop) when absent. */
  dir?: string;
  /** Short, so a killed master is failed over in a few seconds rather than 15. */
  nodeTimeoutMs?: number;
  /** How long start() waits for the cluster to be ok. */
  startTimeoutMs?: number;
  /** Allow DEBUG (tests digest each master's dataset with DEBUG DIGEST). */
  debugCommands?: boolean;
}

export interface ClusterNode {
  /** `127.0.0.1:<port>`, as clients and `CLUSTER NODES` name it. */
  address: string;
  host: string;
  port: number;
  /** The cluster node id (`CLUSTER MYID`). */
  id: string;
  pid: number;
  role: 'master' | 'replica';
  /** A master's slot ranges, both ends included. */
  slots: [number, number][];
  /** A replica's master's node id. */
  masterId?: string;
}

const SLOTS = 16384;

const execFileAsync = promisify(execFile);

interface NodesLine {
  id: string;
  port: number;
  flags: string[];
  masterId?: string;
  slots: [number, number][];
}

/** `CLUSTER NODES` as records; importing/migrating slot markers (`[...]`) are not ownership and are skipped. */
function parseClusterNodes(text: string): NodesLine[] {
  return text.trim().split('\n').filter(Boolean).map((line) => {
    const [id, addr, flags, master, , , , , ...slotFields] = line.trim().split(' ');
    const slots: [number, number][] = [];
    for (const f of slotFields) {
      if (f.startsWith('[')) continue;
      const [a, b] = f.split('-').map(Number);
      slots.push([a, b ?? a]);
    }
    return {
      id, port: Number(addr.split('@')[0].split(':').pop()), flags: flags.split(','),
      masterId: master === '-' ? undefined : master, slots,
    };
  });
}

function slotCount(ranges: [number, number][]): number {
  return ranges.reduce((n, [a, b]) => n + b - a + 1, 0);
}

export class LocalCluster {
  /**
   * The nodes by role as last seen, after start() and after waitForFailover(); masters in
   * slot order, so masters[0] serves slot 0.
   */
  masters: ClusterNode[] = [];
  replicas: ClusterNode[] = [];
  /** The parent of the nodes' directories. */
  readonly dir: string;
  private killed: ClusterNode | null = null;

  private constructor(private readonly group: LocalServers, private expect: { masters: number; replicas: number }) {
    this.dir = group.dir;
  }

  private get servers() {
    return this.group.servers;
  }

  private get admin() {
    return this.group.admin;
  }

  static async start(opts: LocalClusterOptions = {}): Promise<LocalCluster> {
    const masters = opts.masters ?? 3;
    const replicasPerMaster = opts.replicasPerMaster ?? 1;
    const total = masters * (1 + replicasPerMaster);
    const group = LocalServers.inDir(opts.dir, 'tc-cluster-');
    const cluster = new LocalCluster(group, { masters, replicas: masters * replicasPerMaster });
    try {
      // The bus port is set explicitly: the default, port + 10000, is past 65535 for a high ephemeral port.
      const ports = await freePorts(total * 2);
      await group.start(Array.from({ length: total }, (_, i) => ({
        dir: path.join(group.dir, `node-${i + 1}`), port: ports[2 * i], appendOnly: true, debugCommands: opts.debugCommands,
        extraArgs: [
          '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
          '--cluster-port', String(ports[2 * i + 1]),
          '--cluster-node-timeout', String(opts.nodeTimeoutMs ?? 2000),
          // a replica's first sync starts at once, not after the default 5 s wait for more replicas
          '--repl-diskless-sync-delay', '0',
        ],
      })));
      try {
        await execFileAsync('redis-cli', [
          '--cluster', 'create', ...cluster.addresses, '--cluster-replicas', String(replicasPerMaster), '--cluster-yes',
        ], { timeout: 60_000 });
      } catch (err) {
        const e = err as Error & { stdout?: string; stderr?: string };
        throw new Error(`redis-cli --cluster create failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
      }
      await pollUntil(() => cluster.settled(), 'the cluster to be ok', opts.startTimeoutMs ?? 30_000);
      await cluster.refresh();
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** Every node, `127.0.0.1:<port>`: the seed list for a cluster client. */
  get addresses(): string[] {
    return this.servers.map((s) => `${HOST}:${s.port}`);
  }

  /** The same seeds as ioredis' `Cluster` takes them. */
  get startupNodes(): { host: string; port: number }[] {
    return this.servers.map((s) => ({ host: HOST, port: s.port }));
  }

  /** The process ids of every node started, killed ones included; empty once stopped. */
  get pids(): number[] {
    return this.group.pids;
  }

  private get live() {
    return this.servers.filter((s) => s.running);
  }

  /** Each live node's own view of itself (`myself` in its `CLUSTER NODES`). */
  private async selfViews(): Promise<ClusterNode[]> {
    return Promise.all(this.live.map(async (s) => {
      const me = parseClusterNodes(String(await this.admin.call(s.port, 'CLUSTER', 'NODES'))).find((n) => n.flags.includes('myself'));
      if (!me) throw new Error(`${HOST}:${s.port} lists no myself line`);
      const role = me.flags.includes('master') ? 'master' as const : 'replica' as const;
      return {
        address: `${HOST}:${s.port}`, host: HOST, port: s.port, id: me.id, pid: s.pid!, role,
        slots: role === 'master' ? me.slots : [], masterId: role === 'replica' ? me.masterId : undefined,
      };
    }));
  }

  private async refresh(): Promise<void> {
    const nodes = await this.selfViews();
    this.masters = nodes.filter((n) => n.role === 'master' && n.slots.length > 0).sort((a, b) => a.slots[0][0] - b.slots[0][0]);
    this.replicas = nodes.filter((n) => n.role === 'replica');
  }

  /**
   * True once every live node says `cluster_state:ok` with every slot served, sees the
   * expected number of masters with slots and of replicas (none failed), and every
   * replica's link to its master is up (a replica that never synced could not take over).
   */
  private async settled(): Promise<true | string> {
    for (const s of this.live) {
      const info = parseInfo(String(await this.admin.call(s.port, 'CLUSTER', 'INFO')));
      if (info.cluster_state !== 'ok' || Number(info.cluster_slots_ok) !== SLOTS) {
        return `${HOST}:${s.port} cluster_state:${info.cluster_state} cluster_slots_ok:${info.cluster_slots_ok}`;
      }
      const all = parseClusterNodes(String(await this.admin.call(s.port, 'CLUSTER', 'NODES')));
      if (this.killed && all.some((n) => n.id === this.killed!.id && n.slots.length > 0)) {
        return `${HOST}:${s.port} still has slots on the killed master`;
      }
      const view = all.filter((n) => !n.flags.includes('fail') && !n.flags.includes('fail?'));
      const masters = view.filter((n) => n.flags.includes('master') && n.slots.length > 0);
      const replicas = view.filter((n) => n.flags.includes('slave'));
      if (masters.length !== this.expect.masters || replicas.length !== this.expect.replicas) {
        return `${HOST}:${s.port} sees ${masters.length} masters with slots and ${replicas.length} replicas`;
      }
      const me = view.find((n) => n.flags.includes('myself'));
      if (me?.flags.includes('slave')) {
        const repl = parseInfo(String(await this.admin.call(s.port, 'INFO', 'replication')));
        if (repl.master_link_status !== 'up') return `${HOST}:${s.port} master_link_status:${repl.master_link_status}`;
      }
    }
    return true;
  }

  /** SIGKILLs `masters[index]`, as a crash would; waitForFailover() then waits for its replica to take over. */
  async killMaster(index: number): Promise<ClusterNode> {
    const node = this.masters[index];
    if (!node) throw new Error(`no master ${index} (there are ${this.masters.length})`);
    const server = this.servers.find((s) => s.port === node.port)!;
    this.admin.drop(node.port);
    await server.kill();
    this.killed = node;
    return node;
  }

  /** Waits until a replica of the killed master is a master serving its slots and the cluster is ok again; returns it. */
  async waitForFailover(timeoutMs = 30_000): Promise<ClusterNode> {
    const killed = this.killed;
    if (!killed) throw new Error('waitForFailover() without a killMaster() before it');
    const formerReplicas = new Set(this.replicas.filter((r) => r.masterId === killed.id).map((r) => r.id));
    if (formerReplicas.size === 0) throw new Error(`master ${killed.address} had no replica to take over`);
    // the killed master is gone for good: one master fewer among the healthy nodes' view, no replica lost
    const before = this.expect;
    this.expect = { masters: before.masters, replicas: before.replicas - 1 };
    let promoted: ClusterNode | undefined;
    try {
      await pollUntil(async () => {
        const nodes = await this.selfViews();
        promoted = nodes.find((n) => formerReplicas.has(n.id) && n.role === 'master' && slotCount(n.slots) === slotCount(killed.slots));
        if (!promoted) return `no replica of ${killed.address} serves its slots yet`;
        return this.settled();
      }, `a replica of ${killed.address} to take over`, timeoutMs);
    } catch (err) {
      this.expect = before;
      throw err;
    }
    await this.refresh();
    return promoted!;
  }

  /** Stops every node (SIGTERM, waits for each to exit) and removes the temp dir. */
  async stop(): Promise<void> {
    await this.group.stop();
  }
}
