--[[
  Appends an event to its lane: the FIFO of one (URL, event key). A lane's events are
  delivered in order by its *run*, one BullMQ job at a time that drains the lane; the lane
  keeps the id of that job while it has events. The event that finds the lane without a
  run makes one (its caller adds the BullMQ job); the others join the run under way.

  Appending an id already queued or delivered (a relay or a caller retrying) changes
  nothing: an id is refused while it waits in the lane, and for the dedupe window after it
  was first queued. The seen ids expire a window after the lane's last enqueue, so a lane
  whose key is done with (a room that ended) leaves nothing behind.

  Several events of one lane may come in one call (the events a node queues for that lane
  in one tick), appended in the order given, each as if by a call of its own.

  Input:
    KEYS[1] lane FIFO         '<prefix>:{wl:<lane>}:fifo' (list of delivery ids)
    KEYS[2] lane events       '<prefix>:{wl:<lane>}:events' (hash delivery id -> event data JSON)
    KEYS[3] seen ids          '<prefix>:{wl:<lane>}:seen' (zset delivery id -> queued at)
    KEYS[4] lane run          '<prefix>:{wl:<lane>}:run' (hash: job, owner, head, tries, at)

    ARGV[1] dedupe window     ms
    ARGV[2] run job id        used if one of these events starts a run
    ARGV[3..] per event, 2 values: delivery id ('<event id>.<url index>'), event data JSON

  Output: { the run's job id ('' when the lane has no run);
            1 if this call started the run (its first event queued started it), else 0;
            ms since the run last moved (0 for a run just started);
            then per event its position in the lane (0 = head), or -1 if it was queued before }
]]
--- @include "includes/nowMs"

local fifoKey, eventsKey, seenKey, runKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local window, newRunId = tonumber(ARGV[1]), ARGV[2]

local now = nowMs()
local run = redis.call('HMGET', runKey, 'job', 'at')
local runId, movedAt = run[1], run[2]
local idle = 0
if movedAt then idle = now - tonumber(movedAt) end
local started, appended = 0, false
-- trimmed first, so an id older than the window is taken again even before the key expires
redis.call('ZREMRANGEBYSCORE', seenKey, '-inf', now - window)
local out = { '', 0, 0 }
for i = 3, #ARGV, 2 do
  local id, data = ARGV[i], ARGV[i + 1]
  if redis.call('ZSCORE', seenKey, id) or redis.call('HEXISTS', eventsKey, id) == 1 then
    out[#out + 1] = -1
  else
    redis.call('ZADD', seenKey, now, id)
    redis.call('HSET', eventsKey, id, data)
    out[#out + 1] = redis.call('RPUSH', fifoKey, id) - 1
    appended = true
    if not runId then
      runId, started, idle = newRunId, 1, 0
      redis.call('HSET', runKey, 'job', newRunId, 'at', now)
    end
  end
end
if appended then redis.call('PEXPIRE', seenKey, window) end
out[1], out[2], out[3] = runId or '', started, idle
return out
