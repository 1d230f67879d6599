import Redis, { Cluster } from 'ioredis';
import type { Logger } from 'pino';
import { logConnectionErrors } from '../log';
import { createRedis, type RedisClient, type RedisTarget } from '../redis/connection';
import { RetryableError } from './event-claims';

export interface ReplicaWaitOptions {
  /** Replicas that must hold a batch's writes before it is acknowledged (REDIS_WAIT_REPLICAS); 0 = off. */
  replicas: number;
  /** How long WAIT blocks for them (REDIS_WAIT_TIMEOUT) before the batch is answered 503. */
  timeoutMs: number;
  /** Prefix of the mark key (REDIS_PREFIX). */
  prefix: string;
  /** This coordinator node's id, stamped in the mark for whoever reads it. */
  coordinatorId: string;
}

/** Fewer replicas than asked for acknowledged a batch's writes in time: the batch stands on the master only. */
export class NotReplicatedError extends RetryableError {
  constructor(readonly acknowledged: number, readonly wanted: number, timeoutMs: number) {
    super(`${acknowledged} of ${wanted} replicas acknowledged the batch's writes within ${timeoutMs}ms`);
    this.name = 'NotReplicatedError';
  }
}

/** The mark's life: long past any round, short enough that no coordinator leaves it behind for long. */
const MARK_TTL_MS = 60_000;

/**
 * Confirms that `replicas` replicas hold every write made so far, on any connection of this
 * process: the batch applier calls `confirm()` once a batch's effects are stored, and
 * acknowledges the batch only if it resolves.
 *
 * WAIT only counts the writes of the connection it is sent on, and a batch writes on the
 * project's auto-pipelined connection and on BullMQ's queue connection (webhook jobs). So a
 * round writes a mark on a connection of its own (SET with a TTL) and WAITs there: a
 * replica applies its master's stream in order, so one that holds the mark holds every
 * write the master acknowledged before it, whichever connection made it. Its own
 * connection also keeps a blocked WAIT (a replica down: the whole timeout) from holding up
 * the other requests' commands behind it on the shared one.
 *
 * On a Redis Cluster each master has its own stream, and a batch writes to several of
 * them (its rooms' shards, its SFU node's event ids, the queues' shards): a round marks
 * and WAITs on every master serving slots, each on a key of its own slots, side by side.
 * Tracking which masters one batch touched would need every write counted per node; all
 * masters cost one round trip more only where a batch touched fewer, and a round is shared.
 *
 * Rounds do not overlap: a batch finishing while one is in flight joins the next, which
 * every batch finished by then shares (one SET + WAIT per master per round, not per batch).
 */
export class ReplicaWait {
  private readonly redis: RedisClient;
  private readonly markKey: string;
  /** Cluster: a mark key in the slots of each master, by `host:port`. */
  private readonly clusterMarks = new Map<string, string>();
  /** The round that will start once the one in flight is over; the batches finished meanwhile wait on it. */
  private next: Promise<void> | null = null;
  private inFlight: Promise<void> = Promise.resolve();
  private rounds = 0;

  constructor(target: RedisTarget, private readonly opts: ReplicaWaitOptions, log: Logger) {
    // a master that stops answering must not hold requests for ever: past WAIT's own timeout, the round fails
    this.redis = createRedis(target, { enableAutoPipelining: false, commandTimeout: opts.timeoutMs + 2000 });
    this.redis.on('error', logConnectionErrors(log, 'redis (replica wait)'));
    this.markKey = `${opts.prefix}:replication-mark`;
  }

  /** Resolves once the replicas hold every write acknowledged before this call; NotReplicatedError (retryable) if not in time. */
  confirm(): Promise<void> {
    if (this.next) return this.next;
    const round = this.inFlight.then(() => {
      this.next = null;
      return this.round();
    });
    this.next = round;
    this.inFlight = round.catch(() => {});
    return round;
  }

  private async round(): Promise<void> {
    const mark = `${this.opts.coordinatorId} ${++this.rounds}`;
    let acknowledged: number;
    try {
      const client: Redis | Cluster = this.redis;
      if (client instanceof Cluster) {
        // the client lists the masters from CLUSTER SLOTS, so each serves slots: one without a key is a stale view, not one to skip
        const masters = client.nodes('master').map((node) => ({ node, key: this.clusterMark(client, node) }));
        const unplaced = masters.find((m) => m.key === null);
        if (masters.length === 0 || unplaced) throw new Error(`no slot known yet for master ${unplaced ? `${unplaced.node.options.host}:${unplaced.node.options.port}` : '(none listed)'}`);
        acknowledged = Math.min(...await Promise.all(masters.map((m) => this.markAndWait(m.node, m.key!, mark))));
      } else {
        acknowledged = await this.markAndWait(client, this.markKey, mark);
      }
    } catch (e) {
      // the master unreachable, read-only after a failover, or silent past the timeout: the batch is not confirmed, a retry may be
      this.clusterMarks.clear(); // slots may have moved
      throw new RetryableError(`replica wait failed: ${(e as Error).message}`);
    }
    if (acknowledged < this.opts.replicas) throw new NotReplicatedError(acknowledged, this.opts.replicas, this.opts.timeoutMs);
  }

  /** The mark, then WAIT after it on the same connection: the replicas that acknowledge hold all before it. */
  private async markAndWait(conn: Redis, key: string, mark: string): Promise<number> {
    const replies = await conn.pipeline().set(key, mark, 'PX', MARK_TTL_MS).wait(this.opts.replicas, this.opts.timeoutMs).exec();
    for (const [err] of replies ?? []) if (err) throw err;
    return Number(replies?.[1]?.[1] ?? 0);
  }

  /** A key in the slots `node` serves, as the client last saw them; null if it saw none of them on it (a view being refreshed). */
  private clusterMark(cluster: Cluster, node: Redis): string | null {
    const at = `${node.options.host}:${node.options.port}`;
    const known = this.clusterMarks.get(at);
    if (known) return known;
    // each tag lands on a slot at random: a master holding a third of them is found in a few tries
    for (let i = 0; i < 100_000; i++) {
      if (cluster.slots[keySlot(String(i))]?.[0] !== at) continue;
      const key = `${this.markKey}:{${i}}`;
      this.clusterMarks.set(at, key);
      return key;
    }
    return null;
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** Redis Cluster's hash slot of a hash tag: CRC16 (XMODEM) mod 16384. */
export function keySlot(tag: string): number {
  let crc = 0;
  for (const byte of Buffer.from(tag)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
