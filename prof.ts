import { createRedis } from './lib/redis/connection';
import { PrivateRedis } from './lib/redis/server';
import { WorkerRegistry } from './lib/registry/registry';
(async () => {
  const server = await PrivateRedis.start();
  const c = createRedis(server.url);
  const reg = new WorkerRegistry(c, { prefix: 'bench', shards: 16 });
  await reg.open({ roomId: 'w', participantId: 'w', roomName: 'w', identity: 'w' });
  await c.config('RESETSTAT');
  const info = 'x'.repeat(122);
  const N = 30000, W = 2000;
  const cpu0 = process.cpuUsage(); const t0 = Date.now();
  for (let base = 0; base < N; base += W) {
    const refs = Array.from({ length: W }, (_, j) => ({ roomId: `RM_${(base + j) % 500}`, participantId: `PA_${base + j}` }));
    const steps = [
      (b: any, r: any) => b.open({ ...r, roomName: 'r', identity: 'u', guard: 'sig-a', nodeId: 'sfu-a', info }),
      (b: any, r: any) => b.markConnected(r),
      (b: any, r: any) => b.open({ ...r, roomName: 'r', identity: 'u', guard: 'sig-b', nodeId: 'sfu-b' }),
      (b: any, r: any) => b.release({ ...r, guard: 'sig-a' }),
      (b: any, r: any) => b.release({ ...r, guard: 'sig-b' }),
      (b: any, r: any) => b.release({ ...r, raiseLeave: true }),
    ];
    for (const st of steps) { const b = reg.batch(); for (const r of refs) st(b, r); await b.exec(); }
  }
  const ms = Date.now() - t0; const cpu = process.cpuUsage(cpu0);
  console.log('ops/s', Math.round(N * 6 / ms * 1000), 'wall ms', ms, 'node cpu us/op', ((cpu.user + cpu.system) / N / 6).toFixed(1));
  const st = await c.info('commandstats');
  console.log(st.split('\n').filter((l) => /eval|script/.test(l)).join('\n'));
  const cpuInfo = await c.info('cpu'); console.log(cpuInfo.split('\n').filter(l => /used_cpu_(sys|user):/.test(l)).join(' '));
  await c.quit(); await server.stop();
})();
