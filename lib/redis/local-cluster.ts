import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { freePort, PrivateRedis, type PrivateRedisOptions } from './server';

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

const HOST = '127.0.0.1';
const SLOTS = 16384;

const execFileAsync = promisify(execFile);

/**
 * Polls `check` until it returns true or the deadline passes. `check` returns a string
 * saying what is not there yet (or throws), so a timeout says what it last saw.
 */
export async function pollUntil(
  check: () => Promise<true | string>, what: string, timeoutMs: number, intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let last: string;
    try {
      const r = await check();
      if (r === true) return;
      last = r;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}: ${last}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** `count` distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/**
 * Starts the servers side by side into `into`, in order; each one that did start is in
 * it even when another failed, so the caller's stop() reaches it.
 */
export async function startAll(into: PrivateRedis[], options: PrivateRedisOptions[]): Promise<void> {
  const results = await Promise.allSettled(options.map((o) => PrivateRedis.start(o)));
  for (const r of results) if (r.status === 'fulfilled') into.push(r.value);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Admin connections to a set of local redis-servers, one each, never retried (a killed node stays dead). */
export class AdminConnections {
  private readonly conns = new Map<number, Redis>();

  call(port: number, ...args: (string | number)[]): Promise<unknown> {
    let c = this.conns.get(port);
    if (!c || c.status === 'end') {
      c = new Redis({ host: HOST, port, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 2000 });
      // a node killed on purpose: the call that needed it fails, that is enough
      c.on('error', () => {});
      this.conns.set(port, c);
    }
    const [cmd, ...rest] = args;
    return c.call(String(cmd), ...rest);
  }

  drop(port: number): void {
    this.conns.get(port)?.disconnect();
    this.conns.delete(port);
  }

  closeAll(): void {
    for (const port of [...this.conns.keys()]) this.drop(port);
  }
}

export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

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
  private readonly admin = new AdminConnections();
  private killed: ClusterNode | null = null;
  private stopped = false;

  private constructor(
    readonly dir: string, private readonly ownsDir: boolean, private readonly servers: PrivateRedis[],
    private expect: { masters: number; replicas: number },
  ) {}

  static async start(opts: LocalClusterOptions = {}): Promise<LocalCluster> {
    const masters = opts.masters ?? 3;
    const replicasPerMaster = opts.replicasPerMaster ?? 1;
    const total = masters * (1 + replicasPerMaster);
    const ownsDir = !opts.dir;
    const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'tc-cluster-'));
    mkdirSync(dir, { recursive: true });
    const servers: PrivateRedis[] = [];
    const cluster = new LocalCluster(dir, ownsDir, servers, { masters, replicas: masters * replicasPerMaster });
    try {
      // The bus port is set explicitly: the default, port + 10000, is past 65535 for a high ephemeral port.
      const ports = await freePorts(total * 2);
      await startAll(servers, Array.from({ length: total }, (_, i) => ({
        dir: path.join(dir, `node-${i + 1}`), port: ports[2 * i], appendOnly: true, debugCommands: opts.debugCommands,
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
    return this.servers.map((s) => s.pid).filter((p): p is number => p !== undefined);
  }

  private get live(): PrivateRedis[] {
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
    if (this.stopped) return;
    this.stopped = true;
    this.admin.closeAll();
    await Promise.all(this.servers.map((s) => s.stop()));
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
