import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { freePort, PrivateRedis, type PrivateRedisOptions } from './server';

/*
 * What LocalCluster and LocalSentinel share: a group of redis-servers on this machine,
 * started side by side in one parent directory, admin connections to them, a poll until the
 * topology settles, and one stop for the whole group.
 */

export const HOST = '127.0.0.1';

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

/** `INFO` text as fields. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** The redis-servers of one local topology, each in its own directory under `dir`. */
export class LocalServers {
  /** Every server started, in the order started, killed ones included. */
  readonly servers: PrivateRedis[] = [];
  readonly admin = new AdminConnections();
  private stopped = false;

  private constructor(readonly dir: string, private readonly ownsDir: boolean) {}

  /** In `dir` (kept on stop), or in a fresh temp dir named `<tempPrefix>…` (removed on stop). */
  static inDir(dir: string | undefined, tempPrefix: string): LocalServers {
    const parent = dir ?? mkdtempSync(path.join(os.tmpdir(), tempPrefix));
    mkdirSync(parent, { recursive: true });
    return new LocalServers(parent, !dir);
  }

  /**
   * Starts servers side by side and returns them in order. Each one that did start joins
   * `servers` even when another failed, so stop() reaches it.
   */
  async start(options: PrivateRedisOptions[]): Promise<PrivateRedis[]> {
    const results = await Promise.allSettled(options.map((o) => PrivateRedis.start(o)));
    const started: PrivateRedis[] = [];
    for (const r of results) if (r.status === 'fulfilled') started.push(r.value);
    this.servers.push(...started);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return started;
  }

  /** The process ids of every server started, killed ones included; empty once stopped. */
  get pids(): number[] {
    return this.servers.map((s) => s.pid).filter((p): p is number => p !== undefined);
  }

  /**
   * Closes the admin connections, stops every server (SIGTERM, waits for each to exit),
   * those of `first` before the others, and removes the temp dir. Once: later calls do nothing.
   */
  async stop(first: PrivateRedis[] = []): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.admin.closeAll();
    await Promise.all(first.map((s) => s.stop()));
    await Promise.all(this.servers.map((s) => s.stop()));
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
