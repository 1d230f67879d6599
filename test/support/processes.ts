import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/** Starts a coordinator node process and resolves once it runs its periodic work. */
export async function startNodeProcess(env: Record<string, string>): Promise<ChildProcess> {
  const child = fork(path.join(__dirname, 'coordinator-node.ts'), [], {
    env: { ...process.env, LOG_LEVEL: process.env.TEST_NODE_LOG_LEVEL ?? 'warn', ...env },
    execArgv: ['--import', 'tsx'],
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
export async function startHttpNode(env: Record<string, string>, output?: string[]): Promise<ChildProcess> {
  const child = fork(path.join(__dirname, '..', '..', 'lib', 'node', 'main.ts'), [], {
    env: { ...process.env, LOG_LEVEL: process.env.TEST_NODE_LOG_LEVEL ?? 'warn', ...env },
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', output ? 'pipe' : 'inherit', output ? 'pipe' : 'inherit', 'ipc'],
  });
  if (output) for (const s of [child.stdout!, child.stderr!]) s.on('data', (d: Buffer) => output.push(d.toString('utf8')));
  await new Promise<void>((resolve, reject) => {
    child.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(String(m)))));
    child.once('exit', (code) => reject(new Error(`node exited with ${code}`)));
  });
  return child;
}
