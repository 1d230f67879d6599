import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Redis from 'ioredis';
import { processAlive } from '../../lib/redis/server';
import { until } from '../support/redis';

const ROOT = path.join(__dirname, '..', '..');

/** The redis-server processes whose parent is `pid`. */
function redisChildren(pid: number): number[] {
  const pgrep = spawnSync('pgrep', ['-P', String(pid), '-x', 'redis-server'], { encoding: 'utf8' });
  return pgrep.stdout.trim().split('\n').filter(Boolean).map(Number);
}

describe('npm run redis:cluster', () => {
  let child: ChildProcess | null = null;
  let redisPids: number[] = [];

  after(async () => {
    // only if the test failed half way: nothing of it may outlive the run, so the script
    // is asked to stop its redis-servers, and what is still there after is killed
    const proc = child;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      redisPids = [...new Set([...redisPids, ...redisChildren(proc.pid!)])];
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGINT');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    for (const pid of redisPids) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
  });

  it('prints REDIS_CLUSTER_ADDRESSES, and on SIGINT stops every redis-server it started, removes its directory and exits 0', async () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.scripts['redis:cluster']).to.equal('tsx scripts/redis-cluster.ts');

    // the script's own process, as `npm run` ends up running it, so its children are its redis-servers
    const out: string[] = [];
    const err: string[] = [];
    const proc = spawn(process.execPath, ['--import', pathToFileURL(require.resolve('tsx')).href, 'scripts/redis-cluster.ts'], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    proc.stdout!.on('data', (d: Buffer) => out.push(d.toString('utf8')));
    proc.stderr!.on('data', (d: Buffer) => err.push(d.toString('utf8')));
    // 'close', not 'exit': by then all it wrote has been read
    const exited = new Promise<number | null>((r) => proc.once('close', (code) => r(code)));

    // stdout and stderr are two pipes: the line on stderr written after the settings may come first or last
    await until(
      () => proc.exitCode !== null || (/^REDIS_CLUSTER_ADDRESSES=/m.test(out.join('')) && /data in \S+;/.test(err.join(''))),
      'the REDIS_CLUSTER_ADDRESSES line and the data directory', 30_000,
    );
    const line = out.join('').match(/^REDIS_CLUSTER_ADDRESSES=.*$/m)?.[0] ?? '';
    expect(line, err.join('')).to.match(/^REDIS_CLUSTER_ADDRESSES=127\.0\.0\.1:\d+(,127\.0\.0\.1:\d+){5}$/);
    const dir = err.join('').match(/data in (\S+);/)![1];
    expect(existsSync(dir)).to.equal(true);

    const ports = line.slice(line.indexOf('=') + 1).split(',').map((a) => Number(a.split(':')[1]));
    const seed = new Redis({ port: ports[0], host: '127.0.0.1', lazyConnect: true });
    try {
      expect(String(await seed.call('CLUSTER', 'INFO'))).to.match(/cluster_state:ok/);
    } finally {
      seed.disconnect();
    }

    redisPids = redisChildren(proc.pid!);
    expect(redisPids).to.have.length(6);

    proc.kill('SIGINT');
    expect(await exited).to.equal(0);
    expect(redisPids.filter(processAlive)).to.deep.equal([]);
    expect(existsSync(dir)).to.equal(false);
    expect(err.join('')).to.include('SIGINT: stopping the cluster');
  });
});
