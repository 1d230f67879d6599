--[[
  Appends an event to its lane: the FIFO of one (URL, event key). Only the lane's head is
  delivered; the rest wait their turn, so events of a key reach a URL in the order queued.
  Appending an id already queued or delivered (a relay or a caller retrying) changes
  nothing.

  Input:
    KEYS[1] lane FIFO         '<prefix>:{wl:<lane>}:fifo' (list of job ids)
    KEYS[2] lane events       '<prefix>:{wl:<lane>}:events' (hash job id -> job data JSON)
    KEYS[3] seen job ids      '<prefix>:{wl:<lane>}:seen' (zset job id -> queued at)

    ARGV[1] job id            '<event id>.<url index>'
    ARGV[2] job data JSON     (kept so a job lost between this script and BullMQ is re-made)

  Output: position in the lane (0 = head, its turn now), or -1 if it was queued before
]]
--- @include "includes/nowMs"

local now = nowMs()
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then
  return -1
end
redis.call('ZADD', KEYS[3], now, ARGV[1])
-- a day of ids is far beyond any retry of the same event
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 86400000)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return redis.call('RPUSH', KEYS[1], ARGV[1]) - 1
