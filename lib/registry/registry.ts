import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../redis/connection';
import type { ScriptCommands, ScriptName } from '../redis/scripts';
import { KeySpace } from '../redis/keys';
import type {
  DueWorker, Guard, LapsedNode, LeaveRecord, OpenOutcome, OpenRequest, OpenResult, OrphanedWorker,
  ReleaseRequest, ReleaseResult, Worker, WorkerCounts, WorkerRef,
} from './types';
import { optionalGuard, optionalText, requireId } from './validate';

const OUTCOMES: OpenOutcome[] = ['open', 'created', 'reopened'];
/**
 * ParticipantInfo and Room JSON kept with a worker: their metadata is bounded by the
 * callers' limit (MAX_METADATA), so this only stops a record no request could carry.
 */
const MAX_RECORD_CHARS = 16 * 1024 * 1024;
const EXPIRE_BATCH = 500;

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
    return { shard, wid, worker: this.keys.worker(shard, wid), closed: this.keys.closed(shard), base: this.keys.shardBase(shard) };
  }

  private run<T>(call: Call<T>): Promise<T> {
    return this.redis[call.script](...call.args).then(call.decode);
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
      at.worker, at.closed, at.base, at.wid, optionalText('roomName', req.roomName, 1024),
      optionalText('identity', req.identity, 1024), optionalText('info', req.info, MAX_RECORD_CHARS), guard, nodeId, req.connect ? '1' : '0',
    ];
    return { script: 'openWorker', args, decode: decodeOpen };
  }

  /** @internal */
  markConnectedCall(ref: WorkerRef): Call<boolean> {
    return { script: 'markConnected', args: [this.locate(ref).worker], decode: (r) => r === 1 };
  }

  /** @internal */
  releaseCall(req: ReleaseRequest): Call<ReleaseResult> {
    const at = this.locate(req);
    const args = [
      at.worker, at.closed, at.base, at.wid, optionalGuard(req.guard), optionalText('info', req.info, MAX_RECORD_CHARS),
      req.raiseLeave ? '1' : '0', optionalText('room', req.room, MAX_RECORD_CHARS),
    ];
    return { script: 'releaseWorker', args, decode: decodeRelease };
  }

  async get(ref: WorkerRef): Promise<Worker | null> {
    const at = this.locate(ref);
    const h = await this.redis.hgetall(at.worker);
    if (!h.gen) return null;
    const guards: Guard[] = [];
    for (const [field, nodeId] of Object.entries(h)) {
      if (field.startsWith('g:')) guards.push({ guard: field.slice(2), nodeId });
    }
    guards.sort((a, b) => a.guard.localeCompare(b.guard));
    return {
      roomId: h.room, participantId: h.participant, roomName: h.roomName ?? '', identity: h.identity ?? '',
      info: h.info ?? null, guards, refCount: Number(h.refs), connected: h.connected === '1',
      closedAt: h.closedAt ? Number(h.closedAt) : null, generation: Number(h.gen),
      createdAt: Number(h.createdAt), leaveRaised: h.left === '1',
    };
  }

  /** Leaves of one shard recorded at least `ageMs` ago and not acked: their relay died. */
  async pendingLeaves(shard: number, ageMs: number, limit = 500): Promise<LeaveRecord[]> {
    const raw = (await this.redis.pendingLeaves(this.keys.leaves(shard), this.keys.leavesAt(shard), ageMs, limit)) as string[];
    return raw.map((r) => {
      const j = JSON.parse(r) as { wid: string; gen: number; connected: boolean; room: string; info: string; roomName: string; identity: string; at: number };
      return { ...this.keys.splitWorkerId(j.wid), generation: j.gen, wasConnected: j.connected, room: j.room, info: j.info, roomName: j.roomName, identity: j.identity, at: j.at };
    });
  }

  /** The leave's webhook and analytics event are queued: drop it from the outbox. */
  async ackLeave(ref: WorkerRef, generation: number): Promise<void> {
    const at = this.locate(ref);
    await this.redis.ackLeave(this.keys.leaves(at.shard), this.keys.leavesAt(at.shard), `${at.wid}|${generation}`);
  }

  /** Workers of one shard closed for at least `waitMs`, oldest first; O(number due). */
  async dueForReaping(shard: number, waitMs: number, limit = 1000): Promise<DueWorker[]> {
    const flat = (await this.redis.dueForReaping(this.keys.closed(shard), this.keys.shardBase(shard), waitMs, limit)) as string[];
    const out: DueWorker[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      out.push({ ...this.keys.splitWorkerId(flat[i]), generation: Number(flat[i + 1]) });
    }
    return out;
  }

  /** Deletes the worker if it is still closed for `waitMs` (and of `generation`, if given). */
  async reap(ref: WorkerRef, waitMs: number, generation?: number): Promise<boolean> {
    return this.run(this.reapCall(ref, waitMs, generation));
  }

  /** @internal */
  reapCall(ref: WorkerRef, waitMs: number, generation?: number): Call<boolean> {
    const at = this.locate(ref);
    return { script: 'reapWorker', args: [at.worker, at.closed, at.base, at.wid, waitMs, generation ?? ''], decode: (r) => r === 1 };
  }

  /**
   * Workers of the fleet, from each shard's worker count and closed index: two reads per
   * shard, all in one pipeline, whatever the number of workers. Each shard's pair is read
   * in one MULTI, so a transition is never half seen and `open` is never below zero.
   */
  async counts(): Promise<WorkerCounts> {
    const p = this.redis.pipeline() as InlineTransactions;
    for (let s = 0; s < this.keys.shards; s++) p.multi().get(this.keys.workers(s)).zcard(this.keys.closed(s)).exec();
    const replies = (await p.exec()) ?? [];
    if (replies.length !== 4 * this.keys.shards) throw new Error('worker counts: pipeline discarded');
    let workers = 0;
    let closed = 0;
    // per shard: MULTI, QUEUED, QUEUED, then EXEC's [count, closed]
    for (let i = 3; i < replies.length; i += 4) {
      const [err, pair] = replies[i];
      if (err) throw err;
      const [count, zcard] = pair as [string | null, number];
      workers += Number(count ?? 0);
      closed += Number(zcard);
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
    const orphans: OrphanedWorker[] = [];
    let pending = Array.from({ length: this.keys.shards }, (_, s) => s);
    while (pending.length > 0) {
      const rounds = await Promise.all(pending.map((shard) =>
        this.redis.expireNodeGuards(
          this.keys.nodeGuards(shard, nodeId), this.keys.closed(shard), this.keys.shardBase(shard),
          nodeId, cutoff, EXPIRE_BATCH,
        ) as Promise<(string | number)[]>));
      const next: number[] = [];
      rounds.forEach((flat, i) => {
        if (flat[0] === 1) next.push(pending[i]);
        for (let j = 1; j < flat.length; j += 7) {
          orphans.push({
            ...this.keys.splitWorkerId(String(flat[j])), wasConnected: flat[j + 1] === 1, raiseLeave: flat[j + 2] === 1,
            generation: Number(flat[j + 3]), roomName: String(flat[j + 4]), identity: String(flat[j + 5]),
            info: flat[j + 6] === '' ? null : String(flat[j + 6]),
          });
        }
      });
      pending = next;
    }
    if (lastSeen !== undefined) await this.redis.forgetNode(this.keys.nodesSeen(), nodeId, lastSeen);
    return orphans;
  }
}

/** ioredis runs a MULTI .. EXEC queued inside a pipeline ("inline transactions"); its types lack `multi` there. */
type InlineTransactions = ChainableCommander & { multi(): ChainableCommander };

/** One transition ready to send: its script, its arguments, and how to read the reply. */
interface Call<T> {
  script: ScriptName;
  args: (string | number)[];
  decode: (reply: unknown) => T;
}

function decodeOpen(reply: unknown): OpenResult {
  const r = reply as number[];
  return { outcome: OUTCOMES[r[0]], generation: r[1], connected: r[2] === 1, refCount: r[3] };
}

function decodeRelease(reply: unknown): ReleaseResult {
  const r = reply as number[];
  return { found: r[0] === 1, wasConnected: r[1] === 1, closed: r[2] === 1, raiseLeave: r[3] === 1, generation: r[4] };
}

/**
 * Transitions sent together: validated as they are queued (a bad one throws before
 * anything is sent), then one pipeline, in order, on `exec()`. Each queued call's
 * promise settles with its own reply.
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
    const pipeline = this.redis.pipeline() as unknown as ScriptCommands & { exec(): Promise<[Error | null, unknown][] | null> };
    for (const { call } of queued) pipeline[call.script](...call.args);
    const replies = await pipeline.exec();
    queued.forEach((q, i) => {
      const [err, reply] = replies?.[i] ?? [new Error('pipeline discarded'), null];
      if (err) q.reject(err);
      else q.resolve(q.call.decode(reply));
    });
    const failed = replies?.find(([err]) => err);
    if (failed) throw failed[0];
  }
}
