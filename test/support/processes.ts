import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { freePort } from '../../lib/redis/server';

// by absolute URL, so a node started in another working directory still finds tsx
const TSX = ['--import', pathToFileURL(require.resolve('tsx')).href];

const MAIN = path.join(__dirname, '..', '..', 'lib', 'node', 'main.ts');

interface ForkOptions {
  /** Collects what it writes to stdout and stderr instead of showing it. */
  output?: string[];
  cwd?: string;
}

/** A TypeScript entry point as its own process, at LOG_LEVEL warn unless told otherwise. */
function forkEntry(entry: string, env: Record<string, string | undefined>, opts: ForkOptions = {}): ChildProcess {
  const { output } = opts;
  const child = fork(entry, [], {
    cwd: opts.cwd,
    env: { ...process.env, LOG_LEVEL: process.env.TEST_NODE_LOG_LEVEL ?? 'warn', ...env },
    execArgv: TSX,
    stdio: ['ignore', output ? 'pipe' : 'inherit', output ? 'pipe' : 'inherit', 'ipc'],
  });
  if (output) for (const s of [child.stdout!, child.stderr!]) s.on('data', (d: Buffer) => output.push(d.toString('utf8')));
  return child;
}

/** Resolves when the process says 'ready'; rejects if it exits first. */
async function ready(child: ChildProcess): Promise<ChildProcess> {
  await new Promise<void>((resolve, reject) => {
    child.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(String(m)))));
    child.once('exit', (code) => reject(new Error(`node exited with ${code}`)));
  });
  return child;
}

/** Starts a coordinator node process and resolves once it runs its periodic work. */
export function startNodeProcess(env: Record<string, string>): Promise<ChildProcess> {
  return ready(forkEntry(path.join(__dirname, 'coordinator-node.ts'), env));
}

/** Starts `npm start`'s entry point as a process and resolves once it listens. */
export function startHttpNode(env: Record<string, string | undefined>, opts: ForkOptions = {}): Promise<ChildProcess> {
  return ready(forkEntry(MAIN, env, opts));
}

/**
 * `count` processes of `npm start`'s entry point, each on a free port with `env` (a fleet
 * behind a load balancer): the processes, their ports and their base URLs, in the same order.
 */
export async function startHttpNodes(count: number, env: Record<string, string | undefined>, opts: ForkOptions = {}): Promise<{ nodes: ChildProcess[]; ports: number[]; urls: string[] }> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await freePort());
  const nodes = await Promise.all(ports.map((port) => startHttpNode({ ...env, PORT: String(port) }, opts)));
  return { nodes, ports, urls: ports.map((port) => `http://127.0.0.1:${port}`) };
}

/** Stops a node process; one that has not exited 15 s after SIGTERM is killed. */
export async function stopNodeProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** Runs `npm start`'s entry point expecting it to refuse to start: its exit code and output. */
export async function runHttpNodeToExit(env: Record<string, string | undefined>): Promise<{ code: number | null; output: string }> {
  const output: string[] = [];
  const child = forkEntry(MAIN, env, { output });
  child.on('message', () => child.kill('SIGKILL')); // it started after all: the test fails on the code
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  return { code, output: output.join('') };
}
