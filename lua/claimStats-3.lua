--[[
  Claims a batch of buffered stats of one shard for a flush, under a lease. A batch whose
  lease lapsed (its flush died) is handed out again first, with the same id, so that the
  idempotent commit (commitStats) neither loses nor repeats it.

  Input:
    KEYS[1] dirty workers     '<shard>dirty'
    KEYS[2] batches in flight '<shard>inflight' (zset: batch id -> lease expiry)
    KEYS[3] shard base

    ARGV[1] id for a new batch
    ARGV[2] workers per batch
    ARGV[3] lease (ms)

  Output: {} when nothing is due, else
          { batchId, then per worker: wid, roomName, n, entry1 .. entryn }
          (entry = '<in|out>|<trackId>\n<stat JSON>')
]]
--- @include "includes/nowMs"

local dirty, inflight, shardBase = KEYS[1], KEYS[2], KEYS[3]
local now = nowMs()
local lease = tonumber(ARGV[3])

local lapsed = redis.call('ZRANGEBYSCORE', inflight, '-inf', now, 'LIMIT', 0, 1)
if #lapsed > 0 then
  local id = lapsed[1]
  redis.call('ZADD', inflight, now + lease, id)
  local out = redis.call('LRANGE', shardBase .. 'batch:' .. id, 0, -1)
  table.insert(out, 1, id)
  return out
end

local wids = redis.call('SPOP', dirty, tonumber(ARGV[2]))
if #wids == 0 then
  return {}
end

local id = ARGV[1]
local batch = shardBase .. 'batch:' .. id
local out = {}
for _, wid in ipairs(wids) do
  local buffer = shardBase .. 'stats:' .. wid
  local entries = redis.call('LRANGE', buffer, 0, -1)
  if #entries > 0 then
    redis.call('DEL', buffer)
    out[#out + 1] = wid
    out[#out + 1] = redis.call('HGET', shardBase .. 'w:' .. wid, 'roomName') or ''
    out[#out + 1] = tostring(#entries)
    for _, e in ipairs(entries) do out[#out + 1] = e end
  end
end
if #out == 0 then
  return {}
end
redis.call('RPUSH', batch, unpack(out))
redis.call('ZADD', inflight, now + lease, id)
table.insert(out, 1, id)
return out
