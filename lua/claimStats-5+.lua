--[[
  Claims a batch of buffered stats of one shard for a flush, under a lease. A batch whose
  lease lapsed (its flush died or failed) is handed out again first, with the same id, so
  that the idempotent commit (commitStats) neither loses nor repeats it.

  Every hand-out of a batch is counted. The count is the claimant's fencing token: only the
  latest claimant renews or finishes the batch (renewStats, finishStats), so a flush that
  lost its lease cannot end a batch another one now holds. It also tells the flush how many
  times the batch failed, so one that keeps failing can be given up (dead-lettered).

  Which keys a batch touches is only known from Redis, so the caller reads candidates first
  (the batch first in line for a lapse, and some dirty workers) and passes their keys. The
  script takes what is still what the caller saw: a candidate worker another flush took
  meanwhile is skipped. If another batch lapsed than the candidate, or every candidate
  worker was taken while others wait, it changes nothing and answers 'retry'.

  Input:
    KEYS[1] dirty workers     '<shard>dirty'
    KEYS[2] batches in flight '<shard>inflight' (zset: batch id -> lease expiry)
    KEYS[3] claims            '<shard>inflight:claims' (hash: batch id -> times handed out)
    KEYS[4] a new batch       '<shard>batch:<ARGV[1]>'
    KEYS[5] the batch to lapse '<shard>batch:<ARGV[2]>' (KEYS[4] again if there is none)
    KEYS[6 ..] per candidate worker k (k = 1 .. W), two keys:
      KEYS[4 + 2k] stats buffer '<shard>stats:<wid>'
      KEYS[5 + 2k] worker       '<shard>w:<wid>'

    ARGV[1] id for a new batch
    ARGV[2] id of the batch first to lapse ('' = none in flight)
    ARGV[3] lease (ms)
    ARGV[4] stats per batch: no more workers are taken once this many stats are claimed
            (a worker's whole buffer is always taken); the others stay dirty for the next
    ARGV[5 ..] candidate wids, in the order of their keys

  Output: {} when nothing is due, { 'retry' }, or
          { batchId, claim, then per worker: wid, roomName, n, entry1 .. entryn }
          (claim = times the batch was handed out, this one included;
           entry = '<in|out>|<trackId>\n<stat JSON>')
]]
--- @include "includes/nowMs"
--- @include "includes/worker"

local dirty, inflight, claims, newBatch, lapsingBatch = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local newId, lapsingId, lease, budget = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local FIRST_WID = 5
local now = nowMs()

local lapsed = redis.call('ZRANGEBYSCORE', inflight, '-inf', now, 'LIMIT', 0, 1)
if #lapsed > 0 then
  local id = lapsed[1]
  if id ~= lapsingId then
    return { 'retry' }
  end
  redis.call('ZADD', inflight, now + lease, id)
  local claim = redis.call('HINCRBY', claims, id, 1)
  -- the batch as it was stored: the workers part of the reply
  local out = redis.call('LRANGE', lapsingBatch, 0, -1)
  table.insert(out, 1, claim)
  table.insert(out, 1, id)
  return out
end

local out = {}
local claimed = 0
for i = FIRST_WID, #ARGV do
  -- the rest wait for the next batch: a batch stays small enough to coalesce without
  -- holding up the node's requests
  if claimed >= budget then break end
  local wid = ARGV[i]
  local k = i - FIRST_WID + 1
  if redis.call('SREM', dirty, wid) == 1 then
    local buffer = KEYS[4 + 2 * k]
    local entries = redis.call('LRANGE', buffer, 0, -1)
    if #entries > 0 then
      redis.call('DEL', buffer)
      -- per worker: wid, roomName, n, then its n entries
      out[#out + 1] = wid
      local worker = KEYS[5 + 2 * k]
      out[#out + 1] = getLong(worker, F_ROOM_NAME, redis.call('HGET', worker, F_ROOM_NAME)) or ''
      out[#out + 1] = tostring(#entries)
      for _, e in ipairs(entries) do out[#out + 1] = e end
      claimed = claimed + #entries
    end
  end
end
if #out == 0 then
  if #ARGV >= FIRST_WID and redis.call('SCARD', dirty) > 0 then
    return { 'retry' }
  end
  return {}
end
-- in slices: unpack() fails past ~8000 values, and a script that fails here would already
-- have taken the buffers (Redis does not roll a script back)
for i = 1, #out, 1000 do
  redis.call('RPUSH', newBatch, unpack(out, i, math.min(i + 999, #out)))
end
redis.call('ZADD', inflight, now + lease, newId)
redis.call('HSET', claims, newId, 1)
table.insert(out, 1, 1)
table.insert(out, 1, newId)
return out
