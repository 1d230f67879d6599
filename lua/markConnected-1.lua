--[[
  Marks a worker connected: its participant became active (media connected). The flag
  survives resume and re-open, so the final leave is reported as participant_left.

  Input:
    KEYS[1] worker

  Output: 1 if the worker exists, else 0
]]
--- @include "includes/worker"

if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], F_CONNECTED, '1')
return 1
