import { createHash } from 'node:crypto';
import { expect } from 'chai';
import Redis from 'ioredis';
import { WorkerRegistry } from '../../lib/registry/registry';
import { scriptSources } from '../../lib/redis/scripts';
import { until, usePrivateRedis } from '../support/redis';

/**
 * Thousands of registry operations from several connections at once, then a check of
 * every call's answer and of the final state against a simple sequential model.
 *
 * The model is replayed in the order Redis really ran the scripts, which MONITOR
 * reports; so the check holds for whatever interleaving happened, and each run is a
 * different one (SEED picks it; a failure prints the seed to replay).
 */

interface ModelWorker {
  gen: number;
  connected: boolean;
  guards: Map<string, string>; // guard -> node
  closed: boolean;
  left: boolean;
  info: string;
  shard: string;
  /** The node indexes that name it, in the order the worker's field 'nodes' lists them. */
  nodes: string[];
}

class Model {
  readonly workers = new Map<string, ModelWorker>();
  readonly answers = new Map<string, unknown>();
  /** Every generation each worker id has had: a new one must never repeat them. */
  private readonly generations = new Map<string, number[]>();

  /** A created worker's generation is the Redis clock, which the model reads off the answer. */
  constructor(private readonly actual: Map<string, unknown>) {}

  apply(name: string, keys: string[], argv: string[]): void {
    switch (name) {
      case 'openWorker': return this.open(keys, argv);
      case 'markConnected': { const w = this.workers.get(widOf(keys[0])); if (w) w.connected = true; return; }
      case 'releaseWorker': return this.release(argv);
      case 'reapWorker': {
        // a call whose node indexes are not the worker's changes nothing (the caller calls again)
        const w = this.workers.get(argv[0]);
        if (w && w.closed && (argv[2] === '' || Number(argv[2]) === w.gen) && argv[3] === w.nodes.join('|')) this.workers.delete(argv[0]);
        return;
      }
      case 'expireNodeGuards': return this.expire(keys, argv);
      default: return; // leases are not modelled
    }
  }

  private open(keys: string[], a: string[]): void {
    const [wid, , , info, guard, node, connect] = a;
    let w = this.workers.get(wid);
    let outcome = 'open';
    if (!w) {
      const gen = (this.actual.get(info) as { generation: number } | undefined)?.generation ?? NaN;
      const before = this.generations.get(wid) ?? [];
      if (before.some((g) => g >= gen)) throw new Error(`${wid}: generation ${gen} after ${before.join(', ')}: it repeats or goes back`);
      w = { gen, connected: false, guards: new Map(), closed: false, left: false, info: '', shard: shardOf(keys[0]), nodes: [] };
      this.workers.set(wid, w);
      outcome = 'created';
    } else if (w.closed) {
      w.gen += 1; w.closed = false; w.left = false; w.guards.clear();
      outcome = 'reopened';
    }
    this.generations.set(wid, [...(this.generations.get(wid) ?? []), w.gen]);
    if (info) w.info = info;
    if (connect === '1') w.connected = true;
    if (guard) w.guards.set(guard, node);
    if (guard && !w.nodes.includes(node)) w.nodes.push(node);
    this.answers.set(info, { outcome, generation: w.gen, connected: w.connected, refCount: w.guards.size });
  }

  private release(a: string[]): void {
    const [wid, guard, info, raise] = a;
    const w = this.workers.get(wid);
    if (!w) { this.answers.set(info, { found: false, wasConnected: false, closed: false, leaveId: null, generation: 0 }); return; }
    w.info = info;
    let closed = false;
    if (guard && !w.closed && w.guards.delete(guard) && w.guards.size === 0) { w.closed = true; closed = true; }
    const raiseLeave = raise === '1' && !w.left;
    if (raiseLeave) w.left = true;
    // a leave's id: '<wid>|<generation>'
    this.answers.set(info, { found: true, wasConnected: w.connected, closed, leaveId: raiseLeave ? `${wid}|${w.gen}` : null, generation: w.gen });
  }

  /** The workers the caller read from the node's index; the model's departures release every guard (cutoff '+inf'). */
  private expire(keys: string[], a: string[]): void {
    const [node, , ...wids] = a;
    for (const wid of wids) {
      const w = this.workers.get(wid);
      if (!w) continue;
      const held = [...w.guards].filter(([, owner]) => owner === node);
      w.nodes = w.nodes.filter((n) => n !== node);
      if (held.length === 0) continue;
      for (const [g] of held) w.guards.delete(g);
      if (w.guards.size === 0) { w.closed = true; w.left = true; }
    }
  }
}

function widOf(workerKey: string): string {
  return workerKey.slice(workerKey.indexOf(':w:') + 3);
}

function shardOf(workerKey: string): string {
  return workerKey.slice(0, workerKey.indexOf(':w:') + 1);
}

function rng(seed: number) {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0; return s / 2 ** 32; };
}

describe('registry against a sequential model (randomized, several connections)', () => {
  // MONITOR gives one server's order of script runs, which the model replays
  const redis = usePrivateRedis({ standalone: true });
  const SEED = Number(process.env.SEED ?? Date.now() % 1_000_000);
  const CONNECTIONS = 4;
  const OPS_PER_CONNECTION = 1500;
  const IN_FLIGHT = 8;

  it(`matches the model for ${CONNECTIONS * OPS_PER_CONNECTION} interleaved operations (seed ${SEED})`, async function () {
    const shaToName = new Map<string, string>();
    const textToName = new Map<string, string>();
    const bare = (text: string) => text.replace(/\\[nrt]|[^A-Za-z0-9]/g, '');
    const admin = redis.client();
    for (const s of scriptSources()) {
      shaToName.set(createHash('sha1').update(s.lua).digest('hex'), s.name);
      textToName.set(bare(s.lua), s.name);
      await admin.script('LOAD', s.lua); // so no EVALSHA fails with NOSCRIPT mid-run
    }
    let unmatched = 0;
    const log: { name: string; keys: string[]; argv: string[] }[] = [];
    const monitorConn = new Redis(redis.server.url);
    const monitor = await monitorConn.monitor();
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      const verb = args[0].toLowerCase();
      if (source === 'lua' || (verb !== 'evalsha' && verb !== 'eval')) return;
      // ioredis sends a script's first call on a connection as EVAL, later ones as EVALSHA
      // (MONITOR escapes the source, so an EVAL is recognised by its text less punctuation)
      const name = verb === 'eval' ? textToName.get(bare(args[1])) : shaToName.get(args[1]);
      if (!name) { unmatched++; return; }
      const nk = Number(args[2]);
      log.push({ name, keys: args.slice(3, 3 + nk), argv: args.slice(3 + nk) });
    });

    const rooms = ['RM_a', 'RM_b', 'RM_c'];
    const participants = ['PA_1', 'PA_2', 'PA_3'];
    const guards = ['g0', 'g1', 'g2', 'g3'];
    const nodes = ['sfu-0', 'sfu-1', 'sfu-2'];
    const actual = new Map<string, unknown>();
    const lastGeneration = new Map<string, number>();
    let tag = 0;

    const run = async (conn: number) => {
      const reg = new WorkerRegistry(redis.client(), { prefix: 'm', shards: 4 });
      const rand = rng(SEED * 31 + conn);
      const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
      const one = async () => {
        const ref = { roomId: pick(rooms), participantId: pick(participants) };
        const p = rand();
        if (p < 0.38) {
          const info = `op-${conn}-${tag++}`;
          const guard = rand() < 0.9 ? pick(guards) : undefined;
          const r = await reg.open({ ...ref, roomName: 'room', identity: 'id', info, guard, nodeId: pick(nodes), connect: rand() < 0.2 });
          actual.set(info, r);
          lastGeneration.set(`${ref.roomId}|${ref.participantId}`, r.generation);
        } else if (p < 0.72) {
          const info = `op-${conn}-${tag++}`;
          actual.set(info, await reg.release({ ...ref, guard: rand() < 0.9 ? pick(guards) : undefined, info, raiseLeave: rand() < 0.5 }));
        } else if (p < 0.82) {
          await reg.markConnected(ref);
        } else if (p < 0.97) {
          // the generation listed: the last one seen, one before it or one after it
          const last = lastGeneration.get(`${ref.roomId}|${ref.participantId}`) ?? 1;
          await reg.reap(ref, 0, rand() < 0.5 ? undefined : last - 1 + Math.floor(rand() * 3));
        } else {
          await reg.departNode(pick(nodes));
        }
      };
      for (let i = 0; i < OPS_PER_CONNECTION; i += IN_FLIGHT) {
        await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, OPS_PER_CONNECTION - i) }, one));
      }
    };
    await Promise.all(Array.from({ length: CONNECTIONS }, (_, c) => run(c)));
    // MONITOR reports commands in the order they ran: once it shows this one, it has shown every script
    let done = false;
    monitor.on('monitor', (_time: string, args: string[]) => { if (args[0].toLowerCase() === 'echo' && args[1] === 'model-done') done = true; });
    await admin.echo('model-done');
    try {
      await until(() => done, `MONITOR to report every script (has ${log.length}, unmatched ${unmatched})`);
      expect(unmatched).to.equal(0);
    } finally {
      monitor.disconnect();
      monitorConn.disconnect();
    }
    expect(log.length).to.be.at.least(5000);

    const model = new Model(actual);
    for (const e of log) {
      model.apply(e.name, e.keys, e.argv);
    }

    // every answer a caller got is the one the model gives at that point of the order
    let compared = 0;
    for (const [info, got] of actual) {
      expect(got, `answer to ${info} (seed ${SEED})`).to.deep.equal(model.answers.get(info));
      compared++;
    }
    expect(compared).to.be.greaterThan(3000);

    // final state of every worker, and the indexes agree with it
    const reg = new WorkerRegistry(admin, { prefix: 'm', shards: 4 });
    const closedIndex = new Set<string>();
    const nodeIndex = new Set<string>();
    for (let s = 0; s < 4; s++) {
      for (const wid of await admin.zrange(reg.keys.closed(s), 0, -1)) closedIndex.add(wid);
      for (const n of nodes) for (const m of await admin.smembers(reg.keys.nodeGuards(s, n))) nodeIndex.add(`${n} ${m}`);
    }
    const expectedNodeIndex = new Set<string>();
    for (const roomId of rooms) for (const participantId of participants) {
      const wid = `${roomId}|${participantId}`;
      const m = model.workers.get(wid);
      const w = await reg.get({ roomId, participantId });
      const where = `${wid} (seed ${SEED})`;
      if (!m) { expect(w, where).to.equal(null); expect(closedIndex.has(wid), where).to.equal(false); continue; }
      expect(w, where).to.not.equal(null);
      expect({ gen: w!.generation, connected: w!.connected, closed: w!.closedAt !== null, left: w!.leaveRaised, info: w!.info ?? '', refs: w!.refCount }, where)
        .to.deep.equal({ gen: m.gen, connected: m.connected, closed: m.closed, left: m.left, info: m.info, refs: m.guards.size });
      expect(w!.guards, where).to.deep.equal([...m.guards].map(([guard, nodeId]) => ({ guard, nodeId })).sort((a, b) => a.guard.localeCompare(b.guard)));
      expect(closedIndex.has(wid), `closed index ${where}`).to.equal(m.closed);
      // a node's index names every worker holding one of its guards, and may name one that held one until it is reaped
      for (const [, n] of m.guards) expect(m.nodes, `node index of a held guard ${where}`).to.include(n);
      expect((await admin.hget(reg.keys.worker(reg.keys.shardOf(roomId), wid), 'N')) ?? '', `nodes of ${where}`).to.equal(m.nodes.join('|'));
      for (const n of m.nodes) expectedNodeIndex.add(`${n} ${wid}`);
    }
    expect([...nodeIndex].sort(), `node index (seed ${SEED})`).to.deep.equal([...expectedNodeIndex].sort());

    // each shard's worker count is its number of worker hashes, the model's number of workers
    for (let s = 0; s < 4; s++) {
      const base = reg.keys.shardBase(s);
      const modelled = [...model.workers.values()].filter((w) => w.shard === base).length;
      const stored = { count: Number((await admin.get(reg.keys.workers(s))) ?? 0), hashes: (await redis.keys(`${base}w:*`, admin)).length };
      expect(stored, `worker count of shard ${s} (seed ${SEED})`).to.deep.equal({ count: modelled, hashes: modelled });
    }
    const closed = [...model.workers.values()].filter((w) => w.closed).length;
    expect(await reg.counts(), `fleet counts (seed ${SEED})`)
      .to.deep.equal({ workers: model.workers.size, closed, open: model.workers.size - closed });
  });
});
