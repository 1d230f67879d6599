--[[
  Renews an SFU node's lease: records that the node was heard from now.

  Input:
    KEYS[1] node leases       '<prefix>:{nodes}:seen' (score = last heard from, ms)

    ARGV[1] nodeId

  Output: the time recorded (ms)
]]
--- @include "includes/nowMs"

local leasesKey = KEYS[1]
local nodeId = ARGV[1]
local now = nowMs()
redis.call('ZADD', leasesKey, now, nodeId)
return now
