/**
 * HAProxy in front of coordinator nodes, on this machine: the config of
 * docs/load-balancer.md (rendered by `haproxyConfig`, the doc's example is checked against
 * it), written into a temp dir, haproxy in the foreground in master-worker mode, its stats
 * read as CSV and its runtime API spoken over the admin socket. For tests and scripts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../lib/redis/server';

export const HAPROXY_INSTALL_HINT = 'haproxy was not found (Debian/Ubuntu: `apt-get install haproxy`, macOS: `brew install haproxy`), or set HAPROXY to its path.';

/** A coordinator node as HAProxy names it. */
export interface Upstream {
  name: string;
  host: string;
  port: number;
}

export interface HaproxyConfigValues {
  /** Where SFU nodes connect: `:7890`, `127.0.0.1:41234`. */
  bind: string;
  /** The stats page (`/stats`, `/stats;csv`); keep it off the public address. */
  statsBind: string;
  /** The runtime API's unix socket. */
  adminSocket: string;
  servers: Upstream[];
}

/**
 * The config. Every line is explained in docs/load-balancer.md, whose example is this
 * function's output for the example values (a test holds them equal): change both.
 */
export function haproxyConfig(v: HaproxyConfigValues): string {
  const servers = v.servers.map((s) => `    server ${s.name} ${s.host}:${s.port}`).join('\n');
  return `global
    log stdout format raw local0 info
    stats socket ${v.adminSocket} mode 600 level admin
    # a request HAProxy may retry is first copied whole into one buffer: 256 KiB holds
    # TelemetryClient's largest batch (500 stats events, about 210 KB); a larger request
    # is not retried here after an empty response, its SFU's client retries it instead
    tune.bufsize 262144

defaults
    mode http
    log global
    option httplog
    # log only what went wrong (errors, retries, redispatches), not every batch
    option dontlog-normal
    timeout connect 2s
    timeout client 30s
    # longer than any answer a node gives: a batch may wait out an event-id claim (3 s)
    # or a Redis reconnection before its 200 or 503
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout queue 5s
    timeout check 2s

frontend telemetry
    bind ${v.bind}
    default_backend coordinators

backend coordinators
    balance leastconn
    # Retrying is safe: every event of a POST /v1/telemetry batch carries an id, and a
    # batch applied once and sent again (here, or by the SFU's client) is applied once.
    # conn-failure: the node is gone (stopped, crashed, restarting).
    # empty-response: it closed the connection without answering (it died mid-request,
    # or closed an idle keep-alive connection as the request went out).
    # Not 503: a node answers 503 when Redis is unavailable, which every node shares;
    # the client retries that after Retry-After.
    retry-on conn-failure empty-response
    retries 3
    # each retry goes to another node, not the one that just failed
    option redispatch 1
    # /readyz is 503 while the node cannot serve (Redis unreachable, its BullMQ workers
    # down) and from SIGTERM on while it drains (it refuses new connections then)
    option httpchk GET /readyz
    http-check expect status 200
    # checked every second (250 ms while changing state, 500 ms while down); two failed
    # checks take a node out, two good ones bring it back; one refused or reset connection
    # of real traffic takes it out at once
    default-server check inter 1s fastinter 250ms downinter 500ms fall 2 rise 2 observe layer4 error-limit 1 on-error mark-down
${servers}

frontend stats
    bind ${v.statsBind}
    stats enable
    stats uri /stats
    stats refresh 5s
`;
}

/** One row of HAProxy's CSV stats (a frontend, a backend or a server), fields by name. */
export type StatsRow = Record<string, string>;

export interface HaproxyOptions {
  servers: Upstream[];
  /** Port SFU nodes connect to; a free one when absent. */
  port?: number;
  /** Collects haproxy's output (its log) instead of dropping it. */
  output?: string[];
  /** The haproxy binary; $HAPROXY or /usr/sbin/haproxy, else `haproxy` on PATH. */
  binary?: string;
}

function findBinary(given?: string): string {
  for (const candidate of [given, process.env.HAPROXY, '/usr/sbin/haproxy', 'haproxy']) {
    if (candidate && spawnSync(candidate, ['-v'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  throw new Error(HAPROXY_INSTALL_HINT);
}

export function haproxyAvailable(): boolean {
  try { findBinary(); return true; } catch { return false; }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One haproxy process (master-worker, foreground) in a temp dir. It shares our process
 * group, so a Ctrl-C in the terminal stops it with us; its worker exits when the master dies.
 */
export class Haproxy {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    private readonly binary: string, readonly dir: string, readonly port: number, readonly statsPort: number,
    private servers: Upstream[], private readonly output?: string[],
  ) {}

  static async start(o: HaproxyOptions): Promise<Haproxy> {
    const binary = findBinary(o.binary);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'haproxy-'));
    const h = new Haproxy(binary, dir, o.port ?? (await freePort()), await freePort(), o.servers, o.output);
    try {
      h.writeConfig();
      h.launch();
      await h.waitAnswering(10_000);
    } catch (e) {
      await h.kill();
      throw e;
    }
    return h;
  }

  /** What SFU nodes are given: the balancer's one URL. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get statsUrl(): string {
    return `http://127.0.0.1:${this.statsPort}/stats`;
  }

  get configFile(): string {
    return path.join(this.dir, 'haproxy.cfg');
  }

  get adminSocket(): string {
    return path.join(this.dir, 'admin.sock');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private writeConfig(): void {
    writeFileSync(this.configFile, haproxyConfig({
      bind: `127.0.0.1:${this.port}`, statsBind: `127.0.0.1:${this.statsPort}`, adminSocket: this.adminSocket, servers: this.servers,
    }));
    // a config haproxy refuses fails here, naming the line, not as a process that never answers
    const check = spawnSync(this.binary, ['-c', '-q', '-f', this.configFile], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`haproxy refused ${this.configFile}: ${check.stderr || check.stdout}`);
  }

  private launch(): void {
    // -W: master-worker (SIGUSR2 reloads, SIGUSR1 stops softly); -db: stays in the foreground
    const child = spawn(this.binary, ['-W', '-db', '-f', this.configFile], {
      cwd: this.dir, stdio: ['ignore', this.output ? 'pipe' : 'ignore', this.output ? 'pipe' : 'ignore'],
    });
    if (this.output) for (const s of [child.stdout!, child.stderr!]) s.on('data', (d: Buffer) => this.output!.push(d.toString('utf8')));
    this.exited = new Promise((r) => child.once('exit', () => r()));
    this.child = child;
  }

  private alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  private async waitAnswering(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.alive()) throw new Error(`haproxy exited (${this.child?.exitCode ?? this.child?.signalCode})${this.output ? `: ${this.output.join('')}` : ''}`);
      try {
        const res = await fetch(`${this.statsUrl};csv`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) { await res.text(); return; }
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error(`haproxy did not answer on :${this.statsPort} within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /** Every row of the stats page. */
  async stats(): Promise<StatsRow[]> {
    const res = await fetch(`${this.statsUrl};csv`, { signal: AbortSignal.timeout(2000) });
    const [header, ...lines] = (await res.text()).trim().split('\n');
    const names = header.replace(/^# /, '').split(',');
    return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [names[i], v])));
  }

  /** The backend's row (retries `wretr`, redispatches `wredis`, ...) and its servers' rows, by name. */
  async backend(): Promise<{ backend: StatsRow; servers: Map<string, StatsRow> }> {
    const rows = (await this.stats()).filter((r) => r.pxname === 'coordinators');
    return {
      backend: rows.find((r) => r.svname === 'BACKEND')!,
      servers: new Map(rows.filter((r) => r.svname !== 'BACKEND').map((r) => [r.svname, r])),
    };
  }

  /** A server's state as its checks see it: UP, DOWN, NOLB (draining), MAINT, or a transition (`UP 1/2`). */
  async serverStatus(name: string): Promise<string> {
    return (await this.backend()).servers.get(name)?.status ?? 'unknown';
  }

  /** Resolves once `name` is in `status` (UP, DOWN, ...); rejects after the deadline. */
  async waitForServer(name: string, status: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      last = await this.serverStatus(name);
      if (last === status) return;
      await sleep(50);
    }
    throw new Error(`haproxy: server ${name} still ${last} after ${timeoutMs} ms (waiting for ${status})`);
  }

  /** One command of the runtime API (`show info`, `set server coordinators/node1 state drain`): its answer. */
  command(line: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(this.adminSocket);
      let answer = '';
      sock.setTimeout(5000, () => sock.destroy(new Error(`haproxy admin socket: no answer to ${line}`)));
      sock.on('data', (d) => { answer += d.toString('utf8'); });
      sock.once('error', reject);
      sock.once('close', () => resolve(answer));
      sock.end(`${line}\n`);
    });
  }

  /** Takes a node out of rotation by hand (`drain`: checks go on, no new requests), or back (`ready`). */
  async setServerState(name: string, state: 'ready' | 'drain' | 'maint'): Promise<void> {
    const answer = await this.command(`set server coordinators/${name} state ${state}`);
    if (answer.trim() !== '') throw new Error(`haproxy: set server ${name} state ${state}: ${answer.trim()}`);
  }

  private async workerPid(): Promise<string> {
    return /^Pid: (\d+)/m.exec(await this.command('show info'))?.[1] ?? '';
  }

  /**
   * Reloads without dropping a connection (a new worker takes the listeners, the old one
   * finishes what it has), with `servers` if given; resolves once the new worker answers.
   */
  async reload(servers?: Upstream[]): Promise<void> {
    if (servers) this.servers = servers;
    this.writeConfig();
    const before = await this.workerPid();
    this.child!.kill('SIGUSR2');
    const deadline = Date.now() + 10_000;
    for (;;) {
      const now = await this.workerPid().catch(() => '');
      if (now !== '' && now !== before) return;
      if (!this.alive()) throw new Error('haproxy exited during a reload');
      if (Date.now() > deadline) throw new Error('haproxy: the reload did not bring up a new worker within 10 s');
      await sleep(50);
    }
  }

  /** Soft stop (connections in flight finish), then the temp dir goes; killed if it lingers past 10 s. */
  async stop(): Promise<void> {
    if (this.alive()) {
      this.child!.kill('SIGUSR1');
      const timer = setTimeout(() => this.child!.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** SIGKILL to the master, as a crash would (its worker follows); the temp dir goes. */
  async kill(): Promise<void> {
    if (this.alive()) {
      this.child!.kill('SIGKILL');
      await this.exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
