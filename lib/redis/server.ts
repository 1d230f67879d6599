import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A private redis-server owned by this process: `npm start` without REDIS_URL, each test
 * file and each benchmark run one, so they can kill and restart it and run side by side.
 */
export interface PrivateRedisOptions {
  /** Data directory; a fresh temp dir (removed on stop) when absent. */
  dir?: string;
  /** Port to listen on; a free one when absent. */
  port?: number;
  /** Append-only file on, so a restart keeps the state. */
  appendOnly?: boolean;
  /**
   * Outlives this process: its own process group (a Ctrl-C in this terminal does not reach
   * it) and not waited for. Stop it with SHUTDOWN; `npm start` shares one between its nodes.
   */
  detached?: boolean;
  /** DEBUG commands from this machine (DEBUG DIGEST: a digest of the whole dataset, for tests). */
  debugCommands?: boolean;
  /** More redis-server arguments, after the usual ones (for a directive given twice, the later wins). */
  extraArgs?: string[];
  /** A config file, read before the arguments: a sentinel must have one it can rewrite. */
  configFile?: string;
}

export const REDIS_INSTALL_HINT =
  'redis-server was not found on PATH. Install it (Debian/Ubuntu: `apt-get install redis-server`, macOS: `brew install redis`) or set REDIS_URL to a running Redis.';

export function redisServerAvailable(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Whether a process of this machine is still there (one we may not signal counts as alive). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null) return reject(new Error(`redis-server exited with code ${child.exitCode}`));
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => { sock.destroy(); resolve(); });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`redis-server did not listen on ${port} within ${timeoutMs}ms`));
        else setTimeout(attempt, 20);
      });
    };
    attempt();
  });
}

export class PrivateRedis {
  private child: ChildProcess | null = null;
  private constructor(
    readonly dir: string, readonly port: number, private readonly ownsDir: boolean, private readonly appendOnly: boolean,
    private readonly debugCommands = false, private readonly extraArgs: string[] = [],
    private readonly configFile?: string, private readonly detached = false,
  ) {}

  static async start(opts: PrivateRedisOptions = {}): Promise<PrivateRedis> {
    if (!redisServerAvailable()) throw new Error(REDIS_INSTALL_HINT);
    const ownsDir = !opts.dir;
    const dir = opts.dir ?? mkdtempSync(path.join(os.tmpdir(), 'tc-redis-'));
    mkdirSync(dir, { recursive: true });
    const server = new PrivateRedis(
      dir, opts.port ?? (await freePort()), ownsDir, opts.appendOnly ?? false, opts.debugCommands, opts.extraArgs, opts.configFile,
      opts.detached,
    );
    await server.launch();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** A process killed by a signal has no exit code, only a signal code. */
  private static alive(child: ChildProcess | null): child is ChildProcess {
    return child !== null && child.exitCode === null && child.signalCode === null;
  }

  get running(): boolean {
    return PrivateRedis.alive(this.child);
  }

  /** The process id of the current redis-server process, if one was started. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private async launch(): Promise<void> {
    const args = [
      // redis-server only takes a config file as its first argument
      ...(this.configFile ? [this.configFile] : []),
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir,
      '--save', '', '--appendonly', this.appendOnly ? 'yes' : 'no',
      '--daemonize', 'no', '--logfile', path.join(this.dir, 'redis.log'),
      // every write acknowledged is on disk: a SIGKILL (the chaos run's) loses nothing acknowledged
      ...(this.appendOnly ? ['--appendfsync', 'always'] : []),
      ...(this.debugCommands ? ['--enable-debug-command', 'local'] : []),
      ...this.extraArgs,
    ];
    this.child = spawn('redis-server', args, { stdio: 'ignore', detached: this.detached });
    if (this.detached) this.child.unref();
    await waitForPort(this.port, this.child, 10_000);
  }

  /** Kills the server abruptly (SIGKILL), as a crash would. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!PrivateRedis.alive(child)) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  /** Starts it again on the same port and directory. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (PrivateRedis.alive(child)) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    this.child = null;
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
