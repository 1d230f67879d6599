-- Appends an event to its lane, as enqueueWebhook describes (the one rule for it, whether
-- a call carries one lane or several). Returns { position (-1: queued before), the run's
-- id ('' : none), 1 if this started the run, ms since the run last moved }.
local function enqueueLaneEvent(fifoKey, eventsKey, seenKey, runKey, id, data, window, newRunId, now)
  local run = redis.call('HMGET', runKey, 'job', 'at')
  local runId, movedAt = run[1], run[2]
  local idle = 0
  if movedAt then idle = now - tonumber(movedAt) end
  -- trimmed first, so an id older than the window is taken again even before the key expires
  redis.call('ZREMRANGEBYSCORE', seenKey, '-inf', now - window)
  if redis.call('ZSCORE', seenKey, id) or redis.call('HEXISTS', eventsKey, id) == 1 then
    return { -1, runId or '', 0, idle }
  end
  redis.call('ZADD', seenKey, now, id)
  redis.call('PEXPIRE', seenKey, window)
  redis.call('HSET', eventsKey, id, data)
  local position = redis.call('RPUSH', fifoKey, id) - 1
  if not runId then
    redis.call('HSET', runKey, 'job', newRunId, 'at', now)
    return { position, newRunId, 1, 0 }
  end
  return { position, runId, 0, idle }
end
