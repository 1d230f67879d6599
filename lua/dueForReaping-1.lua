--[[
  Lists workers of one shard closed for at least the cleanup wait, oldest first, by Redis
  TIME. Reads the closed index only: the cost is the number due, not the number of workers.
  (The caller reads each one's generation and node indexes from its hash next.)

  Input:
    KEYS[1] closed index      '<shard>closed'

    ARGV[1] cleanup wait (ms)
    ARGV[2] limit

  Output: { wid1, wid2, ... }
]]
--- @include "includes/nowMs"

local closedKey = KEYS[1]
local waitMs, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
return redis.call('ZRANGEBYSCORE', closedKey, '-inf', nowMs() - waitMs, 'LIMIT', 0, limit)
