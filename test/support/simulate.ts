import { spawn } from 'node:child_process';
import path from 'node:path';

/** Runs `scripts/simulate.ts` with `args`, as `npm run simulate -- <args>` does: its exit code and everything it printed. */
export async function runSimulate(args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/simulate.ts', ...args], {
    cwd: path.join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString('utf8'); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString('utf8'); });
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  return { code, out };
}
