--[[
  Lists leaves of one shard recorded at least `age` ago and still not acked: their relay
  died before queueing the webhook. O(number pending).

  Input:
    KEYS[1] leave outbox      '<shard>leaves'
    KEYS[2] leave times       '<shard>leaves:at'

    ARGV[1] age (ms)
    ARGV[2] limit

  Output: { record JSON, ... }
]]
--- @include "includes/nowMs"

local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', nowMs() - tonumber(ARGV[1]), 'LIMIT', 0, tonumber(ARGV[2]))
if #ids == 0 then
  return {}
end
local out = {}
for _, r in ipairs(redis.call('HMGET', KEYS[1], unpack(ids))) do
  if r then out[#out + 1] = r end
end
return out
