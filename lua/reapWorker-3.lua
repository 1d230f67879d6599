--[[
  Deletes a worker closed for at least the cleanup wait. A worker re-opened since it was
  listed (still open, or closed again more recently, or of another generation) is kept,
  and so is one with stats not yet flushed (the reap job flushes its shard first).
  A worker deleted leaves the shard's worker count ('<shard>workers') in the same step.

  A closed-index entry whose worker hash is gone (Redis evicted it, or it was deleted by
  hand), or whose worker is open (created anew after that), is dropped, with the gone
  worker's stats buffer: it would otherwise be listed as due for ever, and enough of them
  would fill every listing and stop the shard's reaping. The gone worker leaves the count.

  Input:
    KEYS[1] worker
    KEYS[2] closed index
    KEYS[3] shard base        (names '<shard>stats:<wid>' and the count '<shard>workers')

    ARGV[1] wid
    ARGV[2] cleanup wait (ms)
    ARGV[3] generation listed ('' = any)

  Output: 1 if reaped, else 0
]]
--- @include "includes/nowMs"

local state = redis.call('HMGET', KEYS[1], 'closedAt', 'gen')
if not state[1] then
  -- only a closed worker belongs in the index (openWorker drops it there as it re-opens)
  if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
    if not state[2] then redis.call('DEL', KEYS[3] .. 'stats:' .. ARGV[1]) end
    -- the hash went without a reap, so the count still holds it (unless it predates the
    -- count: then the count may end one low, but never below zero)
    local count = tonumber(redis.call('GET', KEYS[3] .. 'workers'))
    if count and count > 0 then redis.call('DECR', KEYS[3] .. 'workers') end
  end
  return 0
end
if tonumber(state[1]) > nowMs() - tonumber(ARGV[2]) then
  return 0
end
if ARGV[3] ~= '' and ARGV[3] ~= state[2] then
  return 0
end
if redis.call('EXISTS', KEYS[3] .. 'stats:' .. ARGV[1]) == 1 then
  return 0
end
-- a worker created before the count existed was never counted, so it does not leave it
local counted = redis.call('HGET', KEYS[1], 'counted') == '1'
redis.call('DEL', KEYS[1])
if counted then redis.call('DECR', KEYS[3] .. 'workers') end
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
