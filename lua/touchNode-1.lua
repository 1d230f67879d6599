--[[
  Renews an SFU node's lease: records that the node was heard from now.

  Input:
    KEYS[1] node leases       '<prefix>:{nodes}:seen' (score = last heard from, ms)

    ARGV[1] nodeId

  Output: the time recorded (ms)
]]
--- @include "includes/nowMs"

local now = nowMs()
redis.call('ZADD', KEYS[1], now, ARGV[1])
return now
