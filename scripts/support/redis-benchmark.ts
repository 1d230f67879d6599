import { spawnSync } from 'node:child_process';

/** Requests/s that redis-benchmark reaches for `command` on the same server, same run. */
export function redisBenchmark(port: number, command: string[], opts: { requests: number; clients: number; pipeline: number }): number {
  const r = spawnSync('redis-benchmark', [
    '-p', String(port), '-n', String(opts.requests), '-c', String(opts.clients), '-P', String(opts.pipeline), '--csv', ...command,
  ], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`redis-benchmark failed: ${r.stderr || r.error}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return Number(JSON.parse(`[${line}]`)[1]);
}
