--[[
  The lane's head is done with: delivered, given up, or found finished by BullMQ (failed
  for stalling, say) without our processor moving the lane on. It leaves the lane, and the
  next event's turn comes. Only the head can leave, so of several nodes that find the same
  finished head at once (or a repeat of this call) exactly one is told it moved the lane:
  that one counts it.

  Input:
    KEYS[1] lane FIFO         '<prefix>:{wl:<lane>}:fifo' (list of job ids)
    KEYS[2] lane events       '<prefix>:{wl:<lane>}:events' (hash job id -> job data JSON)

    ARGV[1] job id that was the head

  Output: { 1 if this call took it out of the lane else 0, next job id (absent if the lane is now empty) }
]]
local advanced = 0
if redis.call('LINDEX', KEYS[1], 0) == ARGV[1] then
  redis.call('LPOP', KEYS[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  advanced = 1
end
local nextId = redis.call('LINDEX', KEYS[1], 0)
if not nextId then
  return { advanced }
end
return { advanced, nextId }
