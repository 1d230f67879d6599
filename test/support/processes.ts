import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

// by absolute URL, so a node started in another working directory still finds tsx
const TSX = ['--import', pathToFileURL(require.resolve('tsx')).href];

const MAIN = path.join(__dirname, '..', '..', 'lib', 'node', 'main.ts');

/** Starts a coordinator node process and resolves once it runs its periodic work. */
export async function startNodeProcess(env: Record<string, string>): Promise<ChildProcess> {
  const child = fork(path.join(__dirname, 'coordinator-node.ts'), [], {
    env: { ...process.env, LOG_LEVEL: process.env.TEST_NODE_LOG_LEVEL ?? 'warn', ...env },
    execArgv: TSX,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(String(m)))));
    child.once('exit', (code) => reject(new Error(`node process exited with ${code}`)));
  });
  return child;
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

/**
 * Starts `npm start`'s entry point as a process and resolves once it listens. With
 * `output`, what it writes to stdout and stderr is collected there instead of shown.
 */
export async function startHttpNode(env: Record<string, string | undefined>, opts: { output?: string[]; cwd?: string } = {}): Promise<ChildProcess> {
  const output = opts.output;
  const child = fork(MAIN, [], {
    cwd: opts.cwd,
    env: { ...process.env, LOG_LEVEL: process.env.TEST_NODE_LOG_LEVEL ?? 'warn', ...env },
    execArgv: TSX,
    stdio: ['ignore', output ? 'pipe' : 'inherit', output ? 'pipe' : 'inherit', 'ipc'],
  });
  if (output) for (const s of [child.stdout!, child.stderr!]) s.on('data', (d: Buffer) => output.push(d.toString('utf8')));
  await new Promise<void>((resolve, reject) => {
    child.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(String(m)))));
    child.once('exit', (code) => reject(new Error(`node exited with ${code}`)));
  });
  return child;
}

/** Runs `npm start`'s entry point expecting it to refuse to start: its exit code and output. */
export async function runHttpNodeToExit(env: Record<string, string | undefined>): Promise<{ code: number | null; output: string }> {
  const output: string[] = [];
  const child = fork(MAIN, [], { env: { ...process.env, ...env }, execArgv: TSX, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  for (const s of [child.stdout!, child.stderr!]) s.on('data', (d: Buffer) => output.push(d.toString('utf8')));
  child.on('message', () => child.kill('SIGKILL')); // it started after all: the test fails on the code
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  return { code, output: output.join('') };
}
