import { createHash } from 'node:crypto';
import { Cluster } from 'ioredis';
import type { RedisClient } from '../redis/connection';
import { hashSlot, HASH_SLOTS } from '../redis/hash-slot';

/**
 * The fleet's BullMQ queues, spread over `count` hash slots (QUEUE_SHARDS): every BullMQ
 * script touches the keys of one queue, so a queue lives in one slot, on one master. Each
 * kind of work has one queue per shard:
 *
 *   <name>           prefix {<prefix>:bull}            the one queue, when QUEUE_SHARDS is 1
 *   <name>, <name>-<k>   prefix {<prefix>:bull:<k>-<n>}    shard 0, shard k, when it is more
 *
 * A shard's hash tag is picked so that its slot falls in the k-th of `count` equal slot
 * ranges: a cluster whose masters hold equal ranges (as `redis-cli --cluster create` makes
 * them) gets the same number of queues on each master when `count` is a multiple of the
 * masters.
 */
export class QueueShards {
  private readonly prefixes: string[];

  constructor(readonly redisPrefix: string, readonly count: number) {
    if (!Number.isInteger(count) || count < 1) throw new Error(`queue shards: ${count} is not a positive integer`);
    this.prefixes = Array.from({ length: count }, (_, k) => (count === 1 ? `{${redisPrefix}:bull}` : placedTag(`${redisPrefix}:bull:${k}`, k, count)));
  }

  /** BullMQ's prefix of queue shard `shard`: one hash tag, so its scripts run on Redis Cluster. */
  prefix(shard: number): string {
    return this.prefixes[shard];
  }

  /** The queue name of `kind` in shard `shard`: distinct names, so the dashboard tells them apart. */
  name(kind: string, shard: number): string {
    return shard === 0 ? kind : `${kind}-${shard}`;
  }

  /** The shard of a webhook lane, an SFU node or anything named by a string. */
  shardOfName(name: string): number {
    if (this.count === 1) return 0;
    return createHash('sha1').update(name).digest().readUInt32BE(0) % this.count;
  }

  /** The shard running the periodic jobs of registry shard `shard`. */
  shardOfRegistryShard(shard: number): number {
    return shard % this.count;
  }

  all(): number[] {
    return Array.from({ length: this.count }, (_, k) => k);
  }
}

/** `{base-<n>}` for the smallest n whose slot falls in range k of `count`. */
function placedTag(base: string, k: number, count: number): string {
  const lo = Math.floor((k * HASH_SLOTS) / count);
  const hi = Math.floor(((k + 1) * HASH_SLOTS) / count);
  for (let n = 0; ; n++) {
    const slot = hashSlot(`${base}-${n}`);
    if (slot >= lo && slot < hi) return `{${base}-${n}}`;
  }
}

/** The fleet's queue shards are not what this node was told: it must not start. */
export class QueueShardsMismatch extends Error {
  constructor(readonly configured: number, readonly fleet: number, readonly key: string) {
    super(`QUEUE_SHARDS=${configured}, but this fleet's queues are spread over ${fleet} (Redis key ${key}): ` +
      'every node must use the same (leave QUEUE_SHARDS unset to follow the fleet); to change it, stop every node, ' +
      `let the queues drain, delete ${key}, and start them with the new value`);
    this.name = 'QueueShardsMismatch';
  }
}

/**
 * The queue shards this node uses: the fleet's, stored in Redis by its first node. A node
 * with QUEUE_SHARDS unset ("auto", `wanted` 0) follows it, or, first, picks 1 on one Redis
 * and the number of masters on a cluster; a node set to another number refuses to start,
 * since its schedulers would add a second flush of each shard, and its lanes' jobs would
 * go to queues the other nodes do not read.
 */
export async function agreeOnQueueShards(redis: RedisClient, redisPrefix: string, wanted: number): Promise<number> {
  const key = `${redisPrefix}:{fleet}:queue-shards`;
  // a cluster client knows its masters once it has loaded the slots, after its first answer
  if (wanted === 0 && redis instanceof Cluster) await redis.ping();
  const proposed = wanted > 0 ? wanted : redis instanceof Cluster ? Math.max(1, redis.nodes('master').length) : 1;
  await redis.set(key, proposed, 'NX');
  const fleet = Number(await redis.get(key));
  if (wanted > 0 && fleet !== wanted) throw new QueueShardsMismatch(wanted, fleet, key);
  return fleet;
}
