import type { RedisClient } from '../redis/connection';
import { KeySpace } from '../redis/keys';
import type {
  DueWorker, Guard, LapsedNode, OpenOutcome, OpenRequest, OpenResult, OrphanedWorker,
  ReleaseRequest, ReleaseResult, Worker, WorkerRef,
} from './types';
import { InvalidRequestError, optionalGuard, optionalText, requireId } from './validate';

const OUTCOMES: OpenOutcome[] = ['open', 'created', 'reopened'];
const EXPIRE_BATCH = 500;

/**
 * The distributed stats-worker registry (SPEC §1). Every transition is one Lua script,
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

  /** get-or-create: holds `guard` on the worker, re-opening a closed one as a new generation. */
  async open(req: OpenRequest): Promise<OpenResult> {
    const at = this.locate(req);
    const guard = optionalGuard(req.guard);
    const nodeId = guard ? requireId('nodeId', req.nodeId) : '';
    const roomName = optionalText('roomName', req.roomName, 1024);
    const identity = optionalText('identity', req.identity, 1024);
    const info = optionalText('info', req.info);
    const r = (await this.redis.openWorker(
      at.worker, at.closed, at.base,
      at.wid, req.roomId, roomName, req.participantId, identity, info, guard, nodeId, req.connect ? '1' : '0',
    )) as number[];
    return { outcome: OUTCOMES[r[0]], generation: r[1], connected: r[2] === 1, refCount: r[3] };
  }

  /** set-connected; false if there is no worker. */
  async markConnected(ref: WorkerRef): Promise<boolean> {
    const at = this.locate(ref);
    return (await this.redis.markConnected(at.worker)) === 1;
  }

  /** release(guard): reads `connected` and drops the guard in one step; closes on the last. */
  async release(req: ReleaseRequest): Promise<ReleaseResult> {
    const at = this.locate(req);
    const guard = optionalGuard(req.guard);
    const info = optionalText('info', req.info);
    const r = (await this.redis.releaseWorker(at.worker, at.closed, at.base, at.wid, guard, info, req.raiseLeave ? '1' : '0')) as number[];
    return { found: r[0] === 1, wasConnected: r[1] === 1, closed: r[2] === 1, raiseLeave: r[3] === 1, generation: r[4] };
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

  /** Workers of one shard closed for at least `waitMs`, oldest first; O(number due). */
  async dueForReaping(shard: number, waitMs: number, limit = 1000): Promise<DueWorker[]> {
    const flat = (await this.redis.dueForReaping(this.keys.closed(shard), this.keys.shardBase(shard), waitMs, limit)) as string[];
    const out: DueWorker[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const [roomId, participantId] = splitWid(flat[i]);
      out.push({ roomId, participantId, generation: Number(flat[i + 1]) });
    }
    return out;
  }

  /** Deletes the worker if it is still closed for `waitMs` (and of `generation`, if given). */
  async reap(ref: WorkerRef, waitMs: number, generation?: number): Promise<boolean> {
    const at = this.locate(ref);
    return (await this.redis.reapWorker(at.worker, at.closed, at.base, at.wid, waitMs, generation ?? '')) === 1;
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

  /** The node leaves cleanly: all its guards are released now, as a lapsed lease would. */
  async departNode(nodeId: string): Promise<OrphanedWorker[]> {
    return this.releaseNode(requireId('nodeId', nodeId), '+inf', '');
  }

  private async releaseNode(nodeId: string, cutoff: string, lastSeen: string): Promise<OrphanedWorker[]> {
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
          const [roomId, participantId] = splitWid(String(flat[j]));
          orphans.push({
            roomId, participantId, wasConnected: flat[j + 1] === 1, raiseLeave: flat[j + 2] === 1,
            generation: Number(flat[j + 3]), roomName: String(flat[j + 4]), identity: String(flat[j + 5]),
            info: flat[j + 6] === '' ? null : String(flat[j + 6]),
          });
        }
      });
      pending = next;
    }
    await this.redis.forgetNode(this.keys.nodesSeen(), nodeId, lastSeen);
    return orphans;
  }
}

function splitWid(wid: string): [string, string] {
  const i = wid.indexOf('|');
  if (i < 0) throw new InvalidRequestError('wid', `malformed worker id ${JSON.stringify(wid)}`);
  return [wid.slice(0, i), wid.slice(i + 1)];
}
