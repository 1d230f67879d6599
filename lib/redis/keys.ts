/**
 * The key layout (docs/registry.md). Rooms are spread over `shards` hash slots: every key one
 * script touches carries the same hash tag `{s<n>}`, and is one of the script's KEYS, so the
 * scripts run on Redis Cluster and a slot migration fails a script before it writes.
 *
 *   <prefix>:{s<n>}:w:<roomId>|<participantId>   worker (hash; guards as fields @<guard>, lua/includes/worker.lua)
 *   <prefix>:{s<n>}:workers                      number of workers, open or closed (counter kept by the
 *                                                scripts that create and delete them, so none is walked)
 *   <prefix>:{s<n>}:closed                       closed workers by closedAt (zset)
 *   <prefix>:{s<n>}:node:<nodeId>                workers that took a guard of a node (set of wids; an
 *                                                entry may outlive the guards until the reap)
 *   <prefix>:{nodes}:seen                        SFU nodes by last heard from (zset)
 *   <prefix>:{s<n>}:stats:<wid>                  a worker's buffered stats (list)
 *   <prefix>:{s<n>}:dirty                        workers with buffered stats (set)
 *   <prefix>:{s<n>}:inflight / batch:<id>        stat batches being flushed, by lease expiry
 *   <prefix>:{s<n>}:inflight:claims              times each batch in flight was handed out (hash)
 *   <prefix>:{s<n>}:counters                     traffic counters by direction (hash)
 *   <prefix>:{s<n>}:leaves / leaves:at           the leave outbox (hash + zset by time), by leave id <wid>|<generation>
 *   <prefix>:analytics:{events,stats,node_rooms} the analytics streams
 *   <prefix>:analytics:stats_rejected            stats the flush could not send (dead letters)
 *   <prefix>:{ev:<nodeId>}:<slice>               event ids of one SFU node seen in one time slice (hash id ->
 *                                                'd' applied, or 'p<deadline>:<token>' claimed; expires)
 */
export class KeySpace {
  constructor(readonly prefix: string, readonly shards: number) {}

  /** FNV-1a of the room id: a room's workers share one shard. */
  shardOf(roomId: string): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < roomId.length; i++) {
      h ^= roomId.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    return (h >>> 0) % this.shards;
  }

  shardBase(shard: number): string {
    return `${this.prefix}:{s${shard}}:`;
  }

  workerId(roomId: string, participantId: string): string {
    return `${roomId}|${participantId}`;
  }

  /** The inverse of workerId: room ids hold no '|', so the first one splits. */
  splitWorkerId(wid: string): { roomId: string; participantId: string } {
    const i = wid.indexOf('|');
    if (i < 0) throw new Error(`malformed worker id ${JSON.stringify(wid)}`);
    return { roomId: wid.slice(0, i), participantId: wid.slice(i + 1) };
  }

  worker(shard: number, wid: string): string {
    return `${this.shardBase(shard)}w:${wid}`;
  }

  workers(shard: number): string {
    return `${this.shardBase(shard)}workers`;
  }

  closed(shard: number): string {
    return `${this.shardBase(shard)}closed`;
  }

  nodeGuards(shard: number, nodeId: string): string {
    return `${this.shardBase(shard)}node:${nodeId}`;
  }

  nodesSeen(): string {
    return `${this.prefix}:{nodes}:seen`;
  }

  /** A worker's buffered stats (list of '<in|out>|<trackId>\n<stat JSON>'). */
  statsBuffer(shard: number, wid: string): string {
    return `${this.shardBase(shard)}stats:${wid}`;
  }

  /** A stat batch being flushed: what claimStats took, kept until the batch is finished. */
  statBatch(shard: number, batchId: string): string {
    return `${this.shardBase(shard)}batch:${batchId}`;
  }

  dirty(shard: number): string {
    return `${this.shardBase(shard)}dirty`;
  }

  counters(shard: number): string {
    return `${this.shardBase(shard)}counters`;
  }

  inflight(shard: number): string {
    return `${this.shardBase(shard)}inflight`;
  }

  /**
   * Times each batch in flight was handed out (hash: batch id -> count): the latest count is
   * the claimant's fencing token, and the count tells how often the batch's flush failed.
   */
  inflightClaims(shard: number): string {
    return `${this.shardBase(shard)}inflight:claims`;
  }

  leaves(shard: number): string {
    return `${this.shardBase(shard)}leaves`;
  }

  leavesAt(shard: number): string {
    return `${this.shardBase(shard)}leaves:at`;
  }

  analyticsStream(kind: 'events' | 'stats' | 'node_rooms'): string {
    return `${this.prefix}:analytics:${kind}`;
  }

  /** Committed stat batches: hash tag = the stats stream's name, so both share a slot. */
  committedStatBatches(): string {
    return `{${this.analyticsStream('stats')}}:batches`;
  }

  /** Stats the flush could not send, each with its reason: for operators to inspect or replay. */
  statsRejectedStream(): string {
    return `${this.prefix}:analytics:stats_rejected`;
  }

  /** Batches whose dead letters are written: hash tag = the dead-letter stream's name, so both share a slot. */
  rejectedStatBatches(): string {
    return `{${this.statsRejectedStream()}}:batches`;
  }

  /**
   * A webhook lane (one URL, one event key): FIFO, event data, seen ids and its run share a
   * slot. FIFO, events and run empty out as the lane drains; seen ids expire a dedupe window
   * after the lane's last enqueue.
   */
  webhookLane(lane: string): { fifo: string; events: string; seen: string; run: string } {
    const base = `${this.prefix}:{wl:${lane}}:`;
    return { fifo: `${base}fifo`, events: `${base}events`, seen: `${base}seen`, run: `${base}run` };
  }

  /** Events given up for one URL not yet reported (as numDropped): taken whole by the delivery that reports them. */
  webhookDropped(urlTag: string): string {
    return `${this.prefix}:{wu:${urlTag}}:dropped`;
  }

  /**
   * What the fleet knows of one webhook URL, all under its hash tag (one slot): status (hash:
   * failingSince, paused, last error), latency (list: latest delivery latencies, ms), probe
   * (the paused URL's probe slot, PX), held (set: runs held while paused), lanes (hash: lanes
   * with work -> their run's job id), dead (zset: dead-letter job ids -> when given up),
   * inline (zset: runs sent by a node in-process, not as BullMQ jobs -> when another node may
   * take the lane over; an entry leaves when its run ends), replay (the lease of the replay of
   * its dead letters under way, PX).
   */
  webhookUrl(urlTag: string): { status: string; latency: string; probe: string; held: string; lanes: string; dead: string; inline: string; replay: string } {
    const base = `${this.prefix}:{wu:${urlTag}}:`;
    return {
      status: `${base}status`, latency: `${base}latency`, probe: `${base}probe`, held: `${base}held`, lanes: `${base}lanes`, dead: `${base}dead`,
      inline: `${base}inline`, replay: `${base}replay`,
    };
  }

  /**
   * One webhook URL's per-URL limits, under its hash tag: leases (zset: runs sending to it ->
   * lease expiry), rate (when its next event may go), waiting (zset: runs waiting for a slot),
   * reserved (zset: runs held for the rate -> when their turn comes). All empty out when idle.
   */
  webhookUrlLimits(urlTag: string): { leases: string; rate: string; waiting: string; reserved: string } {
    const base = `${this.prefix}:{wu:${urlTag}}:`;
    return { leases: `${base}leases`, rate: `${base}rate`, waiting: `${base}waiting`, reserved: `${base}reserved` };
  }

  /** Event ids of one SFU node seen in time slice `slice` (idempotency): one hash tag per SFU node. */
  eventIds(nodeId: string, slice: number): string {
    return `${this.prefix}:{ev:${nodeId}}:${slice}`;
  }

  /** BullMQ's prefix: one hash tag, so its scripts run on Redis Cluster too. */
  bullPrefix(): string {
    return `{${this.prefix}:bull}`;
  }
}
