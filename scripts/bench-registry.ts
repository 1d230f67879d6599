/**
 * Registry transitions per second through the TypeScript API, beside redis-benchmark's
 * EVALSHA of a trivial script on the same private redis-server in the same run.
 *
 *   npm run bench:registry [-- --cycles 40000 --inflight 2000 --lanes 4 --connections 1]
 *
 * One cycle is a participant's full life across a resume: join on node A, active, resume
 * join on node B, then the three leaves (A's connection, B's connection, the final
 * participantLeft with no guard): six transitions, each one EVALSHA.
 */
import { parseArgs } from 'node:util';
import { ParticipantInfo, ParticipantInfo_State } from '@livekit/protocol';
import { createRedis } from '../lib/redis/connection';
import { PrivateRedis } from '../lib/redis/server';
import { WorkerRegistry } from '../lib/registry/registry';
import { fmt, printTable } from './support/table';
import { redisBenchmark } from './support/redis-benchmark';

const { values } = parseArgs({
  options: {
    cycles: { type: 'string', default: '40000' },
    inflight: { type: 'string', default: '2000' },
    connections: { type: 'string', default: '1' },
    lanes: { type: 'string', default: '4' },
    workers: { type: 'string', default: '20000' },
  },
});
const CYCLES = Number(values.cycles);
const INFLIGHT = Number(values.inflight);
const CONNECTIONS = Number(values.connections);
const LANES = Number(values.lanes);
const MEMORY_WORKERS = Number(values.workers);

function info(i: number): string {
  return new ParticipantInfo({
    sid: `PA_${i}`, identity: `user-${i}`, name: `User ${i}`, state: ParticipantInfo_State.ACTIVE,
    joinedAt: BigInt(1_700_000_000 + i), version: 3, region: 'eu-west',
  }).toJsonString();
}

async function main() {
  const server = await PrivateRedis.start();
  const clients = Array.from({ length: CONNECTIONS }, () => createRedis(server.url));
  const regs = clients.map((c) => new WorkerRegistry(c, { prefix: 'bench', shards: 16 }));
  try {
    // warm up: scripts loaded on every connection, JIT warm
    await Promise.all(regs.map((r, i) => r.open({ roomId: 'RM_warm', participantId: `PA_${i}`, roomName: 'w', identity: 'w' })));

    const infos = Array.from({ length: 1000 }, (_, i) => info(i)); // built outside the timed loop
    type Steps = Pick<WorkerRegistry, 'open' | 'markConnected' | 'release'>;
    const steps = (i: number): ((reg: Steps) => Promise<unknown>)[] => {
      const ref = { roomId: `RM_${i % 500}`, participantId: `PA_${i}` };
      const who = { ...ref, roomName: `room-${i % 500}`, identity: `user-${i}` };
      return [
        (r) => r.open({ ...who, guard: 'sig-a', nodeId: 'sfu-a', info: infos[i % 1000] }),
        (r) => r.markConnected(ref),
        (r) => r.open({ ...who, guard: 'sig-b', nodeId: 'sfu-b' }),
        (r) => r.release({ ...ref, guard: 'sig-a' }),
        (r) => r.release({ ...ref, guard: 'sig-b' }),
        (r) => r.release({ ...ref, raiseLeave: true }),
      ];
    };

    // 1. each participant's calls awaited in turn, INFLIGHT participants at once: ioredis
    //    auto-pipelining gathers whatever is pending each tick
    let next = 0;
    const lane = async (k: number) => {
      const reg = regs[k % regs.length];
      for (let i = next++; i < CYCLES; i = next++) for (const step of steps(i)) await step(reg);
    };
    let t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: INFLIGHT }, (_, k) => lane(k)));
    const auto = (CYCLES * 6) / (Number(process.hrtime.bigint() - t0) / 1e9);
    await clients[0].flushall();

    // 2. explicit batches (as an HTTP batch of events is applied): LANES lanes at once,
    //    each taking waves of INFLIGHT/LANES participants, one pipeline per step of a wave,
    //    so Node builds one lane's pipeline while Redis runs another's
    const perWave = Math.ceil(INFLIGHT / LANES);
    next = 0;
    const waves = async (k: number) => {
      const reg = regs[k % regs.length];
      for (;;) {
        const first = next;
        next += perWave;
        if (first >= CYCLES) return;
        const lives = Array.from({ length: Math.min(perWave, CYCLES - first) }, (_, j) => steps(first + j));
        for (let s = 0; s < 6; s++) {
          const batch = reg.batch();
          for (const life of lives) void life[s](batch);
          await batch.exec();
        }
      }
    };
    t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: LANES }, (_, k) => waves(k)));
    const batched = (CYCLES * 6) / (Number(process.hrtime.bigint() - t0) / 1e9);

    // memory per open worker: a realistic ParticipantInfo, two guards on two nodes
    await clients[0].flushall();
    const before = Number(/used_memory:(\d+)/.exec(await clients[0].info('memory'))![1]);
    const reg = regs[0];
    let m = 0;
    await Promise.all(Array.from({ length: 500 }, async () => {
      for (let i = m++; i < MEMORY_WORKERS; i = m++) {
        const who = { roomId: `RM_${i % 500}`, participantId: `PA_${i}`, roomName: `room-${i % 500}`, identity: `user-${i}` };
        await reg.open({ ...who, guard: `sig-${i}-a`, nodeId: 'sfu-a', info: info(i), connect: true });
        await reg.open({ ...who, guard: `sig-${i}-b`, nodeId: 'sfu-b' });
      }
    }));
    const after = Number(/used_memory:(\d+)/.exec(await clients[0].info('memory'))![1]);
    const sample = reg.keys.worker(reg.keys.shardOf('RM_7'), 'RM_7|PA_7');
    const keyBytes = Number(await clients[0].memory('USAGE', sample));

    // baseline: a trivial script through redis-benchmark, same server, same run
    const sha = (await clients[0].script('LOAD', 'return 1')) as string;
    const requests = Math.max(200_000, CYCLES * 6);
    const pipelined = redisBenchmark(server.port, ['EVALSHA', sha, '0'], { requests, clients: 50, pipeline: 32 });
    const plain = redisBenchmark(server.port, ['EVALSHA', sha, '0'], { requests, clients: 50, pipeline: 1 });

    console.log(`\nregistry: ${fmt(CYCLES)} cycles x 6 transitions, ${INFLIGHT} participants in flight, ${LANES} batch lanes, ${CONNECTIONS} connection(s), one Node process\n`);
    printTable([
      ['what', 'transitions/s', 'vs redis-benchmark -P 32'],
      ['registry transitions, batches (one pipeline per step of a wave)', fmt(batched), fmt(batched / pipelined, 2)],
      ['registry transitions, independent calls (auto-pipelined)', fmt(auto), fmt(auto / pipelined, 2)],
      ['redis-benchmark EVALSHA "return 1", 50 clients, -P 32', fmt(pipelined), '1.00'],
      ['redis-benchmark EVALSHA "return 1", 50 clients, -P 1', fmt(plain), fmt(plain / pipelined, 2)],
    ]);
    console.log('');
    printTable([
      ['memory per open worker (2 guards, ParticipantInfo JSON)', 'bytes'],
      ['MEMORY USAGE of the worker hash', fmt(keyBytes)],
      [`used_memory growth / worker, indexes included (${fmt(MEMORY_WORKERS)} workers)`, fmt((after - before) / MEMORY_WORKERS)],
      ['ParticipantInfo JSON kept in it', fmt(info(7).length)],
    ]);
  } finally {
    await Promise.all(clients.map((c) => c.quit()));
    await server.stop();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
