--[[
  Lists workers of one shard closed for at least the cleanup wait, oldest first.
  Reads the closed index only: the cost is the number due, not the number of workers.

  Input:
    KEYS[1] closed index
    KEYS[2] shard base

    ARGV[1] cleanup wait (ms)
    ARGV[2] limit

  Output: { wid1, generation1, wid2, generation2, ... }
]]
--- @include "includes/nowMs"

local cutoff = nowMs() - tonumber(ARGV[1])
local wids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, wid in ipairs(wids) do
  out[#out + 1] = wid
  out[#out + 1] = redis.call('HGET', KEYS[2] .. 'w:' .. wid, 'gen') or '0'
end
return out
