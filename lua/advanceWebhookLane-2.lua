--[[
  The lane's head was delivered, or given up: it leaves the lane, and the next event's
  turn comes. Only the head can leave (a repeat of this call changes nothing).

  Input:
    KEYS[1] lane FIFO
    KEYS[2] lane events

    ARGV[1] job id that was the head

  Output: { next job id, its job data JSON } or {} if the lane is now empty
]]
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then
  redis.call('LPOP', KEYS[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
end
local nextId = redis.call('LINDEX', KEYS[1], 0)
if not nextId then
  return {}
end
return { nextId, redis.call('HGET', KEYS[2], nextId) or '' }
