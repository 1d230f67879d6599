--[[
  Appends an event to its lane: the FIFO of one (URL, event key). Only the lane's head is
  delivered; the rest wait their turn, so events of a key reach a URL in the order queued.
  Appending an id already queued or delivered (a relay or a caller retrying) changes
  nothing: an id is refused while it waits in the lane, and for the dedupe window after it
  was first queued. The seen ids expire a window after the lane's last enqueue, so a lane
  whose key is done with (a room that ended) leaves nothing behind.

  Input:
    KEYS[1] lane FIFO         '<prefix>:{wl:<lane>}:fifo' (list of job ids)
    KEYS[2] lane events       '<prefix>:{wl:<lane>}:events' (hash job id -> job data JSON)
    KEYS[3] seen job ids      '<prefix>:{wl:<lane>}:seen' (zset job id -> queued at)

    ARGV[1] job id            '<event id>.<url index>'
    ARGV[2] job data JSON     (kept so a job lost between this script and BullMQ is re-made)
    ARGV[3] dedupe window     ms

  Output: position in the lane (0 = head, its turn now), or -1 if it was queued before
]]
--- @include "includes/nowMs"

local now = nowMs()
local window = tonumber(ARGV[3])
-- trimmed first, so an id older than the window is taken again even before the key expires
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
if redis.call('ZSCORE', KEYS[3], ARGV[1]) or redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  return -1
end
redis.call('ZADD', KEYS[3], now, ARGV[1])
redis.call('PEXPIRE', KEYS[3], window)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return redis.call('RPUSH', KEYS[1], ARGV[1]) - 1
