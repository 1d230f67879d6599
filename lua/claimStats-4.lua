--[[
  Claims a batch of buffered stats of one shard for a flush, under a lease. A batch whose
  lease lapsed (its flush died or failed) is handed out again first, with the same id, so
  that the idempotent commit (commitStats) neither loses nor repeats it.

  Every hand-out of a batch is counted. The count is the claimant's fencing token: only the
  latest claimant renews or finishes the batch (renewStats, finishStats), so a flush that
  lost its lease cannot end a batch another one now holds. It also tells the flush how many
  times the batch failed, so one that keeps failing can be given up (dead-lettered).

  Input:
    KEYS[1] dirty workers     '<shard>dirty'
    KEYS[2] batches in flight '<shard>inflight' (zset: batch id -> lease expiry)
    KEYS[3] claims            '<shard>inflight:claims' (hash: batch id -> times handed out)
    KEYS[4] shard base        (names '<shard>batch:<id>', '<shard>stats:<wid>', '<shard>w:<wid>':
                              a lapsed batch's id is only known here)

    ARGV[1] id for a new batch
    ARGV[2] workers per batch
    ARGV[3] lease (ms)
    ARGV[4] stats per batch: no more workers are taken once this many stats are claimed
            (a worker's whole buffer is always taken); the others stay dirty for the next

  Output: {} when nothing is due, else
          { batchId, claim, then per worker: wid, roomName, n, entry1 .. entryn }
          (claim = times the batch was handed out, this one included;
           entry = '<in|out>|<trackId>\n<stat JSON>')
]]
--- @include "includes/nowMs"

local dirty, inflight, claims, shardBase = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = nowMs()
local lease = tonumber(ARGV[3])

local lapsed = redis.call('ZRANGEBYSCORE', inflight, '-inf', now, 'LIMIT', 0, 1)
if #lapsed > 0 then
  local id = lapsed[1]
  redis.call('ZADD', inflight, now + lease, id)
  local claim = redis.call('HINCRBY', claims, id, 1)
  local out = redis.call('LRANGE', shardBase .. 'batch:' .. id, 0, -1)
  table.insert(out, 1, claim)
  table.insert(out, 1, id)
  return out
end

local wids = redis.call('SPOP', dirty, tonumber(ARGV[2]))
if #wids == 0 then
  return {}
end

local id = ARGV[1]
local batch = shardBase .. 'batch:' .. id
local budget = tonumber(ARGV[4])
local out = {}
local claimed = 0
for i, wid in ipairs(wids) do
  if claimed >= budget then
    -- the rest wait for the next batch: a batch stays small enough to coalesce without
    -- holding up the node's requests
    for j = i, #wids do redis.call('SADD', dirty, wids[j]) end
    break
  end
  local buffer = shardBase .. 'stats:' .. wid
  local entries = redis.call('LRANGE', buffer, 0, -1)
  if #entries > 0 then
    redis.call('DEL', buffer)
    out[#out + 1] = wid
    out[#out + 1] = redis.call('HGET', shardBase .. 'w:' .. wid, 'roomName') or ''
    out[#out + 1] = tostring(#entries)
    for _, e in ipairs(entries) do out[#out + 1] = e end
    claimed = claimed + #entries
  end
end
if #out == 0 then
  return {}
end
-- in slices: unpack() fails past ~8000 values, and a script that fails here would already
-- have taken the buffers (Redis does not roll a script back)
for i = 1, #out, 1000 do
  redis.call('RPUSH', batch, unpack(out, i, math.min(i + 999, #out)))
end
redis.call('ZADD', inflight, now + lease, id)
redis.call('HSET', claims, id, 1)
table.insert(out, 1, 1)
table.insert(out, 1, id)
return out
