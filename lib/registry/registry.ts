import type { RedisClient } from '../redis/connection';
import { runVariadic, variadicArgs, type ScriptCommands, type ScriptName } from '../redis/scripts';
import { KeySpace } from '../redis/keys';
import type {
  DueWorker, Guard, LapsedNode, LeaveRecord, OpenOutcome, OpenRequest, OpenResult, OrphanedWorker,
  ReleaseRequest, ReleaseResult, StatsWorker, WorkerCounts, WorkerRef,
} from './types';
import { optionalGuard, optionalText, requireId } from './validate';
import { packInfo, unpackInfo } from './info-codec';

const OUTCOMES: OpenOutcome[] = ['open', 'created', 'reopened'];
/**
 * ParticipantInfo and Room JSON kept with a worker: their metadata is bounded by the
 * callers' limit (MAX_METADATA), so this only stops a record no request could carry.
 */
const MAX_RECORD_CHARS = 16 * 1024 * 1024;
const EXPIRE_BATCH = 500;

/** The worker hash's fields, as lua/includes/worker.lua names them (docs/registry.md). */
const F = { gen: 'v', reopens: 'o', closedAt: 'x', connected: 'k', left: 'l', refs: 'r', roomName: 'n', identity: 'u', info: 'i', nodes: 'N' } as const;
const GUARD_PREFIX = '@';

/** A value kept in pieces (setLong in lua/includes/worker.lua): '<name>', '<name>1', '<name>2', ... */
function joinPieces(h: Record<string, string>, name: string): string | undefined {
  let value = h[name];
  if (value === undefined) return undefined;
  for (let n = 1; h[`${name}${n}`] !== undefined; n++) value += h[`${name}${n}`];
  return value;
}
/**
 * A call whose keys were taken from a read that is stale by the time it runs is made again
 * with the keys its answer names; a few rounds settle it unless its worker keeps changing.
 */
const MAX_ROUNDS = 10;

/**
 * The distributed stats-worker registry. Every transition is one Lua script,
 * one round trip; concurrent calls share pipelines. Arguments are validated before
 * anything is sent.
 */
export class WorkerRegistry {
  readonly keys: KeySpace;

  constructor(private readonly redis: RedisClient, opts: { prefix: string; shards: number }) {
    this.keys = new KeySpace(opts.prefix, opts.shards);
  }

  private locate(ref: WorkerRef) {
    const roomId = requireId('roomId', ref.roomId);
    const participantId = requireId('participantId', ref.participantId);
    const shard = this.keys.shardOf(roomId);
    const wid = this.keys.workerId(roomId, participantId);
    return { shard, wid, worker: this.keys.worker(shard, wid), closed: this.keys.closed(shard) };
  }

  /** @internal Sends a call, and again with the keys its answer names while it names others. */
  async run<T>(call: Call<T>): Promise<T> {
    for (let round = 1; ; round++) {
      const r = call.decode(await (call.variadic
        ? runVariadic(this.redis, call.script, call.variadic, call.args.slice(1, 1 + Number(call.args[0])) as string[], call.args.slice(1 + Number(call.args[0])))
        : this.redis[call.script](...call.args)));
      if (!(r instanceof Again)) return r;
      if (round >= MAX_ROUNDS) throw new Error(`${call.script}: the worker kept changing under ${MAX_ROUNDS} calls`);
      call = r.call;
    }
  }

  /** Transitions queued here go to Redis in one pipeline on `exec()`, in order; each still one EVALSHA. */
  batch(): RegistryBatch {
    return new RegistryBatch(this.redis, this);
  }

  /** get-or-create: holds `guard` on the worker, re-opening a closed one as a new generation. */
  async open(req: OpenRequest): Promise<OpenResult> {
    return this.run(this.openCall(req));
  }

  /** set-connected; false if there is no worker. */
  async markConnected(ref: WorkerRef): Promise<boolean> {
    return this.run(this.markConnectedCall(ref));
  }

  /** release(guard): reads `connected` and drops the guard in one step; closes on the last. */
  async release(req: ReleaseRequest): Promise<ReleaseResult> {
    return this.run(this.releaseCall(req));
  }

  /** @internal */
  openCall(req: OpenRequest): Call<OpenResult> {
    const at = this.locate(req);
    const guard = optionalGuard(req.guard);
    const nodeId = guard ? requireId('nodeId', req.nodeId) : '';
    const args = [
      at.worker, at.closed, this.keys.workers(at.shard), this.keys.nodeGuards(at.shard, nodeId),
      at.wid, optionalText('roomName', req.roomName, 1024),
      optionalText('identity', req.identity, 1024), packInfo(optionalText('info', req.info, MAX_RECORD_CHARS)), guard, nodeId, req.connect ? '1' : '0',
    ];
    return {
      shard: at.shard, script: 'openWorker', args,
      decode: (reply) => {
        // as openWorker-4.lua replies
        const [outcome, generation, connected, refCount] = reply as number[];
        return { outcome: OUTCOMES[outcome], generation, connected: connected === 1, refCount };
      },
    };
  }

  /** @internal */
  markConnectedCall(ref: WorkerRef): Call<boolean> {
    const at = this.locate(ref);
    return { shard: at.shard, script: 'markConnected', args: [at.worker], decode: (r) => r === 1 };
  }

  /** @internal */
  releaseCall(req: ReleaseRequest): Call<ReleaseResult> {
    const at = this.locate(req);
    const args = [
      at.worker, at.closed, this.keys.leaves(at.shard), this.keys.leavesAt(at.shard),
      at.wid, optionalGuard(req.guard), packInfo(optionalText('info', req.info, MAX_RECORD_CHARS)),
      req.raiseLeave ? '1' : '0', optionalText('room', req.room, MAX_RECORD_CHARS),
    ];
    return {
      shard: at.shard, script: 'releaseWorker', args,
      decode: (reply) => {
        // as releaseWorker-4.lua replies: leaveId '' = no leave raised
        const [found, wasConnected, closedNow, leaveId, generation] = reply as [number, number, number, string, number];
        return { found: found === 1, wasConnected: wasConnected === 1, closed: closedNow === 1, leaveId: leaveId || null, generation };
      },
    };
  }

  async get(ref: WorkerRef): Promise<StatsWorker | null> {
    const at = this.locate(ref);
    const h = await this.redis.hgetall(at.worker);
    if (!h[F.gen]) return null;
    const guards: Guard[] = [];
    for (const [field, held] of Object.entries(h)) {
      // '<nodeId>|<added at>': node ids hold no '|'
      if (field.startsWith(GUARD_PREFIX)) guards.push({ guard: field.slice(1), nodeId: held.slice(0, held.indexOf('|')) });
    }
    guards.sort((a, b) => a.guard.localeCompare(b.guard));
    const generation = Number(h[F.gen]);
    const info = joinPieces(h, F.info);
    return {
      roomId: ref.roomId, participantId: ref.participantId, roomName: joinPieces(h, F.roomName) ?? '', identity: joinPieces(h, F.identity) ?? '',
      info: info === undefined ? null : unpackInfo(info), guards, refCount: Number(h[F.refs]), connected: h[F.connected] === '1',
      closedAt: h[F.closedAt] ? Number(h[F.closedAt]) : null, generation,
      // a new worker's generation is its creation time, and each re-open adds one
      createdAt: generation - Number(h[F.reopens] ?? 0), leaveRaised: h[F.left] === '1',
    };
  }

  /** The leave of this generation of the worker if it is in the outbox (decided, not yet acked), else null. */
  async pendingLeave(ref: WorkerRef, generation: number): Promise<LeaveRecord | null> {
    const at = this.locate(ref);
    // the leave's id as lua/includes/leaves.lua makes it
    const id = `${at.wid}|${generation}`;
    const record = await this.redis.hget(this.keys.leaves(at.shard), id);
    return record === null ? null : this.decodeLeaves([id, record])[0];
  }

  /** Leaves of one shard recorded at least `ageMs` ago and not acked: their relay died. */
  async pendingLeaves(shard: number, ageMs: number, limit = 500): Promise<LeaveRecord[]> {
    return this.decodeLeaves(await this.redis.pendingLeaves(this.keys.leaves(shard), this.keys.leavesAt(shard), ageMs, limit));
  }

  /**
   * The reply of the scripts that report leaves (pendingLeaves, expireNodeGuards): per leave
   * a pair, its id ('' for a worker that closed without raising one) and its record, as
   * lua/includes/leaves.lua makes them.
   */
  private decodeLeaves(reply: unknown): LeaveRecord[] {
    const pairs = reply as string[];
    const leaves: LeaveRecord[] = [];
    for (let i = 0; i < pairs.length; i += 2) {
      const id = pairs[i];
      const j = JSON.parse(pairs[i + 1]) as { wid: string; gen: number; connected: boolean; room: string; info: string; roomName: string; identity: string; at: number };
      leaves.push({
        id, ...this.keys.splitWorkerId(j.wid), generation: j.gen, wasConnected: j.connected, room: j.room, info: unpackInfo(j.info),
        roomName: j.roomName, identity: j.identity, at: j.at,
      });
    }
    return leaves;
  }

  /** The leave's webhook and analytics event are queued: drop it from the outbox. */
  async ackLeave(leave: Pick<LeaveRecord, 'roomId' | 'participantId' | 'id'>): Promise<void> {
    const at = this.locate(leave);
    await this.redis.ackLeave(this.keys.leaves(at.shard), this.keys.leavesAt(at.shard), leave.id);
  }

  /**
   * Workers of one shard closed for at least `waitMs`, oldest first; O(number due). Each
   * one's generation and node indexes are read next, side by side (one write per tick).
   */
  async dueForReaping(shard: number, waitMs: number, limit = 1000): Promise<DueWorker[]> {
    const wids = (await this.redis.dueForReaping(this.keys.closed(shard), waitMs, limit)) as string[];
    return Promise.all(wids.map(async (wid) => {
      const [gen, nodes] = await this.redis.hmget(this.keys.worker(shard, wid), F.gen, F.nodes);
      return { ...this.keys.splitWorkerId(wid), generation: Number(gen ?? 0), nodes: splitNodes(nodes) };
    }));
  }

  /**
   * Deletes the worker if it is still closed for `waitMs` (and of `generation`, if given),
   * with its node index entries: those of `ref.nodes` as dueForReaping listed them, or, if
   * they changed or are not given, those the worker names (one more call).
   */
  async reap(ref: WorkerRef & { nodes?: string[] }, waitMs: number, generation?: number): Promise<boolean> {
    return this.run(this.reapCall(ref, waitMs, generation));
  }

  /** @internal */
  reapCall(ref: WorkerRef & { nodes?: string[] }, waitMs: number, generation?: number): Call<boolean> {
    const at = this.locate(ref);
    const call = (nodes: string[]): Call<boolean> => ({
      shard: at.shard,
      script: 'reapWorker',
      variadic: 4,
      args: variadicArgs(4, [
        at.worker, at.closed, this.keys.workers(at.shard), this.keys.statsBuffer(at.shard, at.wid),
        ...nodes.map((n) => this.keys.nodeGuards(at.shard, n)),
      ], [at.wid, waitMs, generation ?? '', nodes.join('|')]) as (string | number)[],
      decode: (r) => (typeof r === 'string' ? new Again(call(splitNodes(r))) : r === 1),
    });
    return call(ref.nodes ?? []);
  }

  /**
   * Workers of the fleet, from each shard's worker count and closed index: two reads per
   * shard, whatever the number of workers. Each shard's pair is read in one MULTI (its keys
   * share a slot, so this holds on a cluster too), so a transition is never half seen and
   * `open` is never below zero; the shards are read side by side.
   */
  async counts(): Promise<WorkerCounts> {
    const pairs = await Promise.all(Array.from({ length: this.keys.shards }, async (_, s) => {
      const replies = await this.redis.multi().get(this.keys.workers(s)).zcard(this.keys.closed(s)).exec();
      if (!replies) throw new Error('worker counts: transaction discarded');
      for (const [err] of replies) if (err) throw err;
      return [Number(replies[0][1] ?? 0), Number(replies[1][1])];
    }));
    let workers = 0;
    let closed = 0;
    for (const [count, zcard] of pairs) {
      workers += count;
      closed += zcard;
    }
    return { workers, closed, open: workers - closed };
  }

  /** Renews an SFU node's lease (heartbeat, or any call from it). */
  async heartbeat(nodeId: string): Promise<number> {
    return (await this.redis.touchNode(this.keys.nodesSeen(), requireId('nodeId', nodeId))) as number;
  }

  async lapsedNodes(leaseMs: number, limit = 100): Promise<LapsedNode[]> {
    const [now, ...flat] = (await this.redis.lapsedNodes(this.keys.nodesSeen(), leaseMs, limit)) as [number, ...string[]];
    const out: LapsedNode[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ nodeId: flat[i], lastSeen: Number(flat[i + 1]), cutoff: now });
    return out;
  }

  /**
   * Releases every guard `node` held when its lapse was found, shard by shard, and returns the
   * workers that closed. Safe to repeat after a crash: released guards are gone. The lease
   * is dropped last, and only if the node was not heard from meanwhile.
   */
  async expireNode(node: LapsedNode): Promise<OrphanedWorker[]> {
    return this.releaseNode(requireId('nodeId', node.nodeId), String(node.cutoff), String(node.lastSeen));
  }

  /**
   * The node leaves cleanly: all its guards are released now, as a lapsed lease would. Its
   * lease is renewed rather than dropped: a request of the node's still in flight may add a
   * guard after the release, and that guard must still belong to a lease that lapses (the
   * expiry then releases it and forgets the node).
   */
  async departNode(nodeId: string): Promise<OrphanedWorker[]> {
    const node = requireId('nodeId', nodeId);
    const orphans = await this.releaseNode(node, '+inf');
    await this.heartbeat(node);
    return orphans;
  }

  private async releaseNode(nodeId: string, cutoff: string, lastSeen?: string): Promise<OrphanedWorker[]> {
    const perShard = await Promise.all(Array.from({ length: this.keys.shards }, (_, shard) => this.releaseNodeIn(shard, nodeId, cutoff)));
    if (lastSeen !== undefined) await this.redis.forgetNode(this.keys.nodesSeen(), nodeId, lastSeen);
    return perShard.flat();
  }

  /**
   * Walks the node's index in one shard with SSCAN (every worker in it from start to end is
   * seen at least once) and hands each chunk's workers to the script, which checks each one
   * itself: a worker seen twice, or no longer holding the node's guards, is no harm.
   */
  private async releaseNodeIn(shard: number, nodeId: string, cutoff: string): Promise<OrphanedWorker[]> {
    const index = this.keys.nodeGuards(shard, nodeId);
    const fixed = [index, this.keys.closed(shard), this.keys.leaves(shard), this.keys.leavesAt(shard)];
    const orphans: OrphanedWorker[] = [];
    let cursor = '0';
    do {
      const [next, wids] = await this.redis.sscan(index, cursor, 'COUNT', EXPIRE_BATCH);
      cursor = next;
      if (wids.length === 0) continue;
      const keys = [...fixed, ...wids.map((wid) => this.keys.worker(shard, wid))];
      const closed = this.decodeLeaves(await runVariadic(this.redis, 'expireNodeGuards', 4, keys, [nodeId, cutoff, ...wids]));
      for (const l of closed) {
        orphans.push({ roomId: l.roomId, participantId: l.participantId, generation: l.generation, wasConnected: l.wasConnected, leave: l.id ? l : null });
      }
    } while (cursor !== '0');
    return orphans;
  }
}

/** The leaves the closing of these workers raised, for the relay. */
export function raisedLeaves(orphans: OrphanedWorker[]): LeaveRecord[] {
  return orphans.flatMap((o) => (o.leave ? [o.leave] : []));
}

/** A worker's field F.nodes ('<nodeId>|<nodeId>...'; absent = none) as a list. */
function splitNodes(nodes: string | null | undefined): string[] {
  return nodes ? nodes.split('|') : [];
}

/** A reply that says: the keys were stale, send this call instead. */
class Again<T> {
  constructor(readonly call: Call<T>) {}
}

/** One transition ready to send: its shard, its script, its arguments, and how to read the reply. */
interface Call<T> {
  shard: number;
  script: ScriptName;
  /** A variadic script's fixed keys; `args` then start with numkeys (see variadicArgs). */
  variadic?: number;
  args: (string | number)[];
  decode: (reply: unknown) => T | Again<T>;
}

/**
 * Transitions sent together: validated as they are queued (a bad one throws before
 * anything is sent), then one pipeline on `exec()`, in the order queued; on a cluster one
 * pipeline per shard (a shard's keys share a hash slot), each in the order queued. Each
 * queued call's promise settles with its own reply.
 */
export class RegistryBatch {
  private readonly queued: { call: Call<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];

  constructor(private readonly redis: RedisClient, private readonly registry: WorkerRegistry) {}

  get size(): number {
    return this.queued.length;
  }

  private add<T>(call: Call<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queued.push({ call, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  open(req: OpenRequest): Promise<OpenResult> {
    return this.add(this.registry.openCall(req));
  }

  markConnected(ref: WorkerRef): Promise<boolean> {
    return this.add(this.registry.markConnectedCall(ref));
  }

  release(req: ReleaseRequest): Promise<ReleaseResult> {
    return this.add(this.registry.releaseCall(req));
  }

  reap(ref: WorkerRef, waitMs: number, generation?: number): Promise<boolean> {
    return this.add(this.registry.reapCall(ref, waitMs, generation));
  }

  /** Sends every queued transition; resolves when Redis has answered them all. */
  async exec(): Promise<void> {
    const queued = this.queued.splice(0);
    if (queued.length === 0) return;
    // one Redis takes them all in one pipeline; a cluster, one pipeline per shard (one slot each)
    const byShard = new Map<number, typeof queued>();
    for (const q of queued) {
      const group = this.redis.isCluster ? q.call.shard : 0;
      let list = byShard.get(group);
      if (!list) byShard.set(group, (list = []));
      list.push(q);
    }
    const failures = await Promise.all([...byShard.values()].map((list) => this.send(list)));
    const failed = failures.find((e) => e !== null);
    if (failed) throw failed;
  }

  /** One shard's calls in one pipeline; a call answered with other keys is sent again alone. */
  private async send(list: RegistryBatch['queued']): Promise<unknown> {
    const pipeline = this.redis.pipeline() as unknown as ScriptCommands & { exec(): Promise<[Error | null, unknown][] | null> };
    for (const { call } of list) pipeline[call.script](...call.args);
    const replies = await pipeline.exec();
    let failure: unknown = null;
    await Promise.all(list.map(async (q, i) => {
      const [err, reply] = replies?.[i] ?? [new Error('pipeline discarded'), null];
      try {
        if (err) throw err;
        const r = q.call.decode(reply);
        q.resolve(r instanceof Again ? await this.registry.run(r.call) : r);
      } catch (e) {
        failure ??= e;
        q.reject(e);
      }
    }));
    return failure;
  }
}
