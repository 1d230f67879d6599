--[[
  Lists SFU nodes not heard from for the lease time.

  Input:
    KEYS[1] node leases

    ARGV[1] lease (ms)
    ARGV[2] limit

  Output: { now, nodeId1, lastSeen1, nodeId2, lastSeen2, ... }
    `now` is the expiry's cutoff: guards held at this moment are released, guards a node
    adds later (it came back while its expiry ran) are kept.
]]
--- @include "includes/nowMs"

local now = nowMs()
local out = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]),
  'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
table.insert(out, 1, now)
return out
