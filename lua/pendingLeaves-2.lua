--[[
  Lists leaves of one shard recorded at least `age` ago and still not acked: their relay
  died before queueing the webhook. O(number pending).

  Input:
    KEYS[1] leave outbox      '<shard>leaves'
    KEYS[2] leave times       '<shard>leaves:at'

    ARGV[1] age (ms)
    ARGV[2] limit

  Output: per leave, a pair: leaveId, record (as includes/leaves made them)
]]
--- @include "includes/nowMs"

local leavesKey, leavesAtKey = KEYS[1], KEYS[2]
local ageMs, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', leavesAtKey, '-inf', nowMs() - ageMs, 'LIMIT', 0, limit)
if #ids == 0 then
  return {}
end
local out = {}
for i, record in ipairs(redis.call('HMGET', leavesKey, unpack(ids))) do
  if record then
    out[#out + 1] = ids[i]
    out[#out + 1] = record
  end
end
return out
