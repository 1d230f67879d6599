/**
 * A fleet behind HAProxy (see ./haproxy.ts): its servers named after the nodes, a rolling
 * restart done as docs/load-balancer.md says, and the figures HAProxy keeps about it.
 */
import { fmt } from './table';
import { Haproxy, type StatsRow, type Upstream } from './haproxy';

/** HAProxy's servers for coordinator nodes listening on this machine: node1, node2, ... */
export function upstreams(ports: number[], host = '127.0.0.1'): Upstream[] {
  return ports.map((port, i) => ({ name: `node${i + 1}`, host, port }));
}

export interface RestartStep {
  name: string;
  /** When its SIGTERM was sent, from the `since` the caller gave. */
  at: number;
  /** SIGTERM to exit: the drain. */
  drainMs: number;
  /** SIGTERM to HAProxy seeing it UP again. */
  outMs: number;
}

/**
 * Restarts every node in turn: `restart(i)` stops node i (SIGTERM, waiting for its exit)
 * and starts it again on its port, resolving with how long the stop took; the next node
 * goes only once HAProxy's checks see this one UP, so two nodes are never out at once.
 */
export async function rollingRestart(
  lb: Haproxy, servers: Upstream[], restart: (i: number) => Promise<{ drainMs: number }>,
  opts: { since?: number; log?: (line: string) => void } = {},
): Promise<RestartStep[]> {
  const since = opts.since ?? Date.now();
  const steps: RestartStep[] = [];
  for (let i = 0; i < servers.length; i++) {
    const { name } = servers[i];
    await lb.waitForServer(name, 'UP', 30_000);
    const t0 = Date.now();
    opts.log?.(`rolling restart: ${name} (:${servers[i].port}) SIGTERM at ${fmt((t0 - since) / 1000, 1)} s`);
    const { drainMs } = await restart(i);
    await lb.waitForServer(name, 'UP', 30_000);
    const step = { name, at: (t0 - since) / 1000, drainMs, outMs: Date.now() - t0 };
    opts.log?.(`rolling restart: ${name} drained in ${fmt(drainMs)} ms, UP in HAProxy again after ${fmt(step.outMs)} ms`);
    steps.push(step);
  }
  return steps;
}

/** What HAProxy counted for the coordinators backend: requests each node answered, retries, redispatches. */
export interface BalancerFigures {
  /** Server name -> responses it gave (any status). */
  answeredBy: Map<string, number>;
  /** Server name -> 5xx it gave. */
  errorsBy: Map<string, number>;
  /** Connection attempts retried (`wretr`) and requests sent to another node on a retry (`wredis`). */
  retries: number;
  redispatches: number;
  /** Answers HAProxy itself gave for want of a node (`503` / `502` / `504` it generated). */
  failedAtBalancer: number;
}

const n = (r: StatsRow | undefined, field: string) => Number(r?.[field] || 0);

export async function balancerFigures(lb: Haproxy): Promise<BalancerFigures> {
  const rows = await lb.stats();
  const frontend = rows.find((r) => r.pxname === 'telemetry' && r.svname === 'FRONTEND');
  const backend = rows.find((r) => r.pxname === 'coordinators' && r.svname === 'BACKEND');
  const servers = new Map(rows.filter((r) => r.pxname === 'coordinators' && r.svname !== 'BACKEND').map((r) => [r.svname, r]));
  const answeredBy = new Map<string, number>();
  const errorsBy = new Map<string, number>();
  for (const [name, r] of servers) {
    answeredBy.set(name, ['hrsp_1xx', 'hrsp_2xx', 'hrsp_3xx', 'hrsp_4xx', 'hrsp_5xx', 'hrsp_other'].reduce((s, f) => s + n(r, f), 0));
    errorsBy.set(name, n(r, 'hrsp_5xx'));
  }
  // the SFUs got every 5xx the frontend sent: those its servers gave, and those HAProxy gave itself
  const serverErrors = [...errorsBy.values()].reduce((a, b) => a + b, 0);
  return {
    answeredBy, errorsBy, retries: n(backend, 'wretr'), redispatches: n(backend, 'wredis'),
    failedAtBalancer: Math.max(0, n(frontend, 'hrsp_5xx') - serverErrors),
  };
}

/** Rows for a results table. */
export function balancerRows(f: BalancerFigures, steps: RestartStep[]): (string | number)[][] {
  return [
    ['load balancer: requests answered, by node', [...f.answeredBy].map(([k, v]) => `${k} ${fmt(v)}`).join(', ')],
    ['load balancer: retries / redispatched to another node', `${fmt(f.retries)} / ${fmt(f.redispatches)}`],
    ['load balancer: 5xx it gave itself (no node could answer)', fmt(f.failedAtBalancer)],
    ['rolling restart (node: at, drain, SIGTERM to UP again)', steps.length === 0 ? 'not done'
      : steps.map((s) => `${s.name}: ${fmt(s.at, 1)} s, ${fmt(s.drainMs)} ms, ${fmt(s.outMs)} ms`).join('; ')],
  ];
}

/**
 * `npm run simulate -- --lb`: HAProxy in front of the simulation's nodes, every node
 * restarted in turn mid-run, and the rows the table adds. The simulation keeps its nodes:
 * it says how to stop one (SIGTERM, its exit code) and start it again.
 */
export class BalancedRun {
  private steps: RestartStep[] = [];
  private final: BalancerFigures | null = null;
  /** Nodes that exited other than 0 on SIGTERM, or a restart that did not finish. */
  readonly faults: string[] = [];

  private constructor(private readonly lb: Haproxy, private readonly servers: Upstream[]) {}

  static async start(ports: number[]): Promise<BalancedRun> {
    const servers = upstreams(ports);
    const lb = await Haproxy.start({ servers });
    for (const s of servers) await lb.waitForServer(s.name, 'UP');
    process.stderr.write(`HAProxy on ${lb.url} in front of ${servers.map((s) => `${s.name} :${s.port}`).join(', ')} (stats ${lb.statsUrl})\n`);
    return new BalancedRun(lb, servers);
  }

  /** The one URL the SFU nodes get. */
  get url(): string {
    return this.lb.url;
  }

  /** Once `when` resolves, restarts every node in turn; never rejects (a fault is kept in `faults`). */
  async restartInTurn(when: Promise<unknown>, since: number, node: { stop(i: number): Promise<number | null>; start(i: number): Promise<void> }): Promise<void> {
    await when;
    try {
      this.steps = await rollingRestart(this.lb, this.servers, async (i) => {
        const t0 = Date.now();
        const code = await node.stop(i);
        if (code !== 0) this.faults.push(`${this.servers[i].name} exited ${code} on SIGTERM`);
        const drainMs = Date.now() - t0;
        await node.start(i);
        return { drainMs };
      }, { since, log: (line) => process.stderr.write(`\n${line}\n`) });
    } catch (e) {
      this.faults.push(`rolling restart: ${(e as Error).message}`);
    }
  }

  /** The restart done, every node out and back once, none exiting other than 0. */
  get healthy(): boolean {
    return this.faults.length === 0 && this.steps.length === this.servers.length;
  }

  /** Reads HAProxy's figures, then stops it softly. */
  async stop(): Promise<void> {
    this.final = await balancerFigures(this.lb).catch(() => null);
    await this.lb.stop();
  }

  rows(clients: { retried: number; failedForGood: number }): (string | number)[][] {
    return [
      ...(this.final ? balancerRows(this.final, this.steps) : [['load balancer', 'no figures (HAProxy did not answer)']]),
      ['clients through the balancer: requests retried / calls failed for good', `${fmt(clients.retried)} / ${fmt(clients.failedForGood)}`],
      ...(this.faults.length > 0 ? [['load balancer faults', this.faults.join('; ')]] : []),
    ];
  }
}
