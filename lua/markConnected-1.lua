--[[
  Marks a worker connected: its participant became active (media connected). The flag
  survives resume and re-open, so the final leave is reported as participant_left.

  Input:
    KEYS[1] worker            '<shard>w:<wid>'

  Output: 1 if the worker exists, else 0
]]
--- @include "includes/worker"

local worker = KEYS[1]
if redis.call('EXISTS', worker) == 0 then
  return 0
end
redis.call('HSET', worker, F_CONNECTED, '1')
return 1
