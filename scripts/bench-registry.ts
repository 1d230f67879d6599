/**
 * Registry transitions per second through the TypeScript API, beside redis-benchmark's
 * EVALSHA of a trivial script on the same private redis-server in the same run; then the
 * memory a worker takes, indexes included, on a redis-server with default settings.
 *
 *   npm run bench:registry [-- --cycles 40000 --inflight 2000 --lanes 4 --connections 1 --workers 20000]
 *   npm run bench:registry -- --memory-only
 *
 * One cycle is a participant's full life across a resume: join on node A, active, resume
 * join on node B, then the three leaves (A's connection, B's connection, the final
 * participantLeft with no guard): six transitions, each one EVALSHA.
 *
 * Memory: `--workers` workers, each opened on two nodes (two guards, as across a resume)
 * with a ParticipantInfo JSON, measured as the growth of INFO used_memory divided by the
 * number of workers (the worker hashes, the node indexes, the counters, the main
 * dictionary's share), and MEMORY USAGE of one worker hash. Rows: the layout before this
 * one, written as it wrote it with plain commands (worker hash with long field names and the
 * whole JSON in one field, which makes it a hashtable; a zset entry per guard), then the
 * registry's own, with this bench's short ids and with LiveKit-length ones.
 */
import { parseArgs } from 'node:util';
import { ParticipantInfo, ParticipantInfo_State } from '@livekit/protocol';
import { createRedis } from '../lib/redis/connection';
import { PrivateRedis } from '../lib/redis/server';
import { WorkerRegistry } from '../lib/registry/registry';
import { packInfo } from '../lib/registry/info-codec';
import { KeySpace } from '../lib/redis/keys';
import { fmt, printTable } from './support/table';
import { redisBenchmark } from './support/redis-benchmark';

const { values } = parseArgs({
  options: {
    cycles: { type: 'string', default: '40000' },
    inflight: { type: 'string', default: '2000' },
    connections: { type: 'string', default: '1' },
    lanes: { type: 'string', default: '4' },
    workers: { type: 'string', default: '20000' },
    'memory-only': { type: 'boolean', default: false },
  },
});
const CYCLES = Number(values.cycles);
const INFLIGHT = Number(values.inflight);
const CONNECTIONS = Number(values.connections);
const LANES = Number(values.lanes);
const MEMORY_WORKERS = Number(values.workers);

function info(i: number, sid = `PA_${i}`): string {
  return new ParticipantInfo({
    sid, identity: `user-${i}`, name: `User ${i}`, state: ParticipantInfo_State.ACTIVE,
    joinedAt: BigInt(1_700_000_000 + i), version: 3, region: 'eu-west',
  }).toJsonString();
}

type Client = ReturnType<typeof createRedis>;

/** Ids as this bench names them, or as LiveKit does (a 3-letter prefix and 12 random characters). */
function ids(i: number, livekit: boolean) {
  const sid = (p: string, n: number) => `${p}_${n.toString(36).padStart(12, 'x')}`;
  const roomId = livekit ? sid('RM', i % 500) : `RM_${i % 500}`;
  const participantId = livekit ? sid('PA', i) : `PA_${i}`;
  return { roomId, participantId, roomName: `room-${i % 500}`, identity: `user-${i}`, info: info(i, participantId) };
}

const usedMemory = async (c: Client) => Number(/used_memory:(\d+)/.exec(await c.info('memory'))![1]);

/** make(0 .. n-1), 500 at a time (auto-pipelined). */
async function inParallel(n: number, make: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: 500 }, async () => {
    for (let i = next++; i < n; i = next++) await make(i);
  }));
}

/** Bytes per worker: used_memory growth over `n` workers made by `make`, 500 at a time; MEMORY USAGE of `sampleKey`. */
async function perWorker(c: Client, n: number, make: (i: number) => Promise<unknown>, sampleKey: string) {
  await c.flushall();
  const before = await usedMemory(c);
  await inParallel(n, make);
  const grown = (await usedMemory(c)) - before;
  const hash = Number(await c.memory('USAGE', sampleKey, 'SAMPLES', '0'));
  const encoding = String(await c.object('ENCODING', sampleKey));
  return { perWorker: grown / n, hash, encoding };
}

/**
 * The layout before this one, as its openWorker wrote it (two opens: node A, then node B):
 * the worker hash with its long field names and the whole JSON in 'info', a zset entry per
 * guard in '<shard>node:<nodeId>', the shard's worker count.
 */
async function openOldLayout(c: Client, keys: KeySpace, i: number, livekit: boolean): Promise<void> {
  const w = ids(i, livekit);
  const shard = keys.shardOf(w.roomId);
  const base = keys.shardBase(shard);
  const wid = keys.workerId(w.roomId, w.participantId);
  const now = Date.now();
  await c.multi()
    .hset(`${base}w:${wid}`, 'room', w.roomId, 'participant', w.participantId, 'gen', now, 'left', '0', 'createdAt', now, 'counted', '1',
      'roomName', w.roomName, 'identity', w.identity, 'info', w.info, 'connected', '1', `g:sig-${i}-a`, 'sfu-a', 'refs', 1)
    .incr(`${base}workers`)
    .zadd(`${base}node:sfu-a`, now, `${wid}|sig-${i}-a`)
    .hset(`${base}w:${wid}`, 'roomName', w.roomName, 'identity', w.identity, 'connected', '1', `g:sig-${i}-b`, 'sfu-b', 'refs', 2)
    .zadd(`${base}node:sfu-b`, now, `${wid}|sig-${i}-b`)
    .exec();
}

/** This layout, through the registry: opened on node A (active), then on node B (unless `oneNode`). */
async function openWorker(reg: WorkerRegistry, i: number, livekit: boolean, oneNode = false): Promise<void> {
  const w = ids(i, livekit);
  await reg.open({ ...w, guard: `sig-${i}-a`, nodeId: 'sfu-a', connect: true });
  if (!oneNode) await reg.open({ ...w, guard: `sig-${i}-b`, nodeId: 'sfu-b' });
}

async function memoryTable(c: Client, reg: WorkerRegistry): Promise<void> {
  const keys = reg.keys;
  const sample = (livekit: boolean) => {
    const w = ids(7, livekit);
    return keys.worker(keys.shardOf(w.roomId), keys.workerId(w.roomId, w.participantId));
  };
  const rows: (string | number)[][] = [['layout (open worker, 2 guards on 2 nodes, ParticipantInfo JSON)', 'bytes/worker, indexes included', 'MEMORY USAGE of the hash', 'hash encoding']];
  for (const livekit of [false, true]) {
    const old = await perWorker(c, MEMORY_WORKERS, (i) => openOldLayout(c, keys, i, livekit), sample(livekit));
    const now = await perWorker(c, MEMORY_WORKERS, (i) => openWorker(reg, i, livekit), sample(livekit));
    const idsName = livekit ? 'LiveKit-length sids (RM_/PA_ + 12)' : "this bench's ids (RM_7|PA_7)";
    rows.push([`before: long field names, JSON in one field, zset per guard; ${idsName}`, fmt(old.perWorker), fmt(old.hash), old.encoding]);
    rows.push([`now: short fields, info compacted and in <= 64-byte pieces, set per node; ${idsName}`, fmt(now.perWorker), fmt(now.hash), now.encoding]);
  }
  // the common case: one signal connection, so one guard on one node (one node index entry)
  const one = await perWorker(c, MEMORY_WORKERS, (i) => openWorker(reg, i, true, true), sample(true));
  rows.push(['now, 1 guard on 1 node; LiveKit-length sids (RM_/PA_ + 12)', fmt(one.perWorker), fmt(one.hash), one.encoding]);
  // the same workers, closed (both guards released) and not yet reaped: the closed index holds them too
  await perWorker(c, MEMORY_WORKERS, (i) => openWorker(reg, i, false), sample(false));
  const before = await usedMemory(c);
  await inParallel(MEMORY_WORKERS, async (i) => {
    const w = ids(i, false);
    await reg.release({ ...w, guard: `sig-${i}-a` });
    await reg.release({ ...w, guard: `sig-${i}-b` });
  });
  const closedGrowth = ((await usedMemory(c)) - before) / MEMORY_WORKERS;
  console.log(`\nmemory per worker, ${fmt(MEMORY_WORKERS)} workers over ${keys.shards} shards, redis-server with default settings (used_memory growth / workers)\n`);
  printTable(rows);
  console.log(`\nclosing them (both guards released, not yet reaped): ${fmt(closedGrowth, 1)} bytes/worker more (closed index entry, closedAt)`);
  console.log(`ParticipantInfo JSON kept per worker: ${fmt(info(7).length)} characters (${fmt(packInfo(info(7)).length)} as stored)`);
  // the "before" rows are that layout rewritten here with plain commands; its own scripts, run by this bench at commit 06c0a42
  console.log('the layout before, through its own scripts (bench:registry at commit 06c0a42, 2026-11-27): 1,436 bytes/worker, indexes included, this bench\'s ids');
}

async function throughput(port: number, clients: Client[], regs: WorkerRegistry[]): Promise<void> {
  {
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

    // baseline: a trivial script through redis-benchmark, same server, same run
    const sha = (await clients[0].script('LOAD', 'return 1')) as string;
    const requests = Math.max(200_000, CYCLES * 6);
    const pipelined = redisBenchmark(port, ['EVALSHA', sha, '0'], { requests, clients: 50, pipeline: 32 });
    const plain = redisBenchmark(port, ['EVALSHA', sha, '0'], { requests, clients: 50, pipeline: 1 });

    console.log(`\nregistry: ${fmt(CYCLES)} cycles x 6 transitions, ${INFLIGHT} participants in flight, ${LANES} batch lanes, ${CONNECTIONS} connection(s), one Node process\n`);
    printTable([
      ['what', 'transitions/s', 'vs redis-benchmark -P 32'],
      ['registry transitions, batches (one pipeline per step of a wave)', fmt(batched), fmt(batched / pipelined, 2)],
      ['registry transitions, independent calls (auto-pipelined)', fmt(auto), fmt(auto / pipelined, 2)],
      ['redis-benchmark EVALSHA "return 1", 50 clients, -P 32', fmt(pipelined), '1.00'],
      ['redis-benchmark EVALSHA "return 1", 50 clients, -P 1', fmt(plain), fmt(plain / pipelined, 2)],
    ]);
  }
}

async function main() {
  const server = await PrivateRedis.start();
  const clients = Array.from({ length: CONNECTIONS }, () => createRedis(server.url));
  const regs = clients.map((c) => new WorkerRegistry(c, { prefix: 'bench', shards: 16 }));
  try {
    if (!values['memory-only']) await throughput(server.port, clients, regs);
    await memoryTable(clients[0], regs[0]);
  } finally {
    await Promise.all(clients.map((c) => c.quit()));
    await server.stop();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
