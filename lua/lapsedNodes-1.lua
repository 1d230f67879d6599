--[[
  Lists SFU nodes not heard from for the lease time.

  Input:
    KEYS[1] node leases       '<prefix>:{nodes}:seen' (score = last heard from, ms)

    ARGV[1] lease (ms)
    ARGV[2] limit

  Output: { now, nodeId1, lastSeen1, nodeId2, lastSeen2, ... }
    `now` is the expiry's cutoff: guards held at this moment are released, guards a node
    adds later (it came back while its expiry ran) are kept.
]]
--- @include "includes/nowMs"

local leasesKey = KEYS[1]
local leaseMs, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = nowMs()
local out = redis.call('ZRANGEBYSCORE', leasesKey, '-inf', now - leaseMs, 'WITHSCORES', 'LIMIT', 0, limit)
table.insert(out, 1, now)
return out
