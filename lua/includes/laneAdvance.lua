-- A lane's run moves on, as advanceWebhookLane describes (the one rule for it, whether a
-- call carries one lane or several). The ids done with are args[first..last], in lane
-- order. Returns advanceWebhookLane's reply.
local function advanceLane(fifoKey, eventsKey, runKey, runId, token, mode, handOut, args, first, last, now)
  local run = redis.call('HMGET', runKey, 'job', 'owner', 'head', 'tries')
  local job, owner, countedHead, countedTries = run[1], run[2], run[3], run[4]
  if mode == 'restart' then
    -- runId is the finished run's ('' when none), and in the token's place comes the new run's id
    local newRunId = token
    if (job or '') ~= runId then
      return { 0 }
    end
    if redis.call('LLEN', fifoKey) == 0 then
      redis.call('DEL', runKey)
      return { 0 }
    end
    redis.call('HSET', runKey, 'job', newRunId, 'at', now)
    redis.call('HDEL', runKey, 'owner')
    return { 1 }
  end
  if job ~= runId then
    return { -1 }
  end
  if mode == 'start' or not owner then
    -- a pickup begins; or a run's first pickup, which sent the event it came with, calls first
    redis.call('HSET', runKey, 'owner', token)
  elseif owner ~= token then
    return { -1 }
  end
  for i = first, last do
    if redis.call('LINDEX', fifoKey, 0) ~= args[i] then break end
    redis.call('LPOP', fifoKey)
    redis.call('HDEL', eventsKey, args[i])
  end
  local head = redis.call('LINDEX', fifoKey, 0)
  if not head then
    redis.call('DEL', runKey)
    return { 0 }
  end
  -- a head new to the run has had no attempt; 'hold' reports one failed, 'yield' none
  local tries = 1
  if mode == 'yield' then tries = 0 end
  if head == countedHead then
    tries = tonumber(countedTries)
    -- an attempt is counted when it starts, so a failed one is counted already
    if mode == 'start' or mode == 'next' then tries = tries + 1 end
  end
  redis.call('HSET', runKey, 'head', head, 'tries', tries, 'at', now)
  local waiting = redis.call('LLEN', fifoKey)
  if mode == 'hold' or mode == 'yield' then
    return { 1, waiting, tries }
  end
  local ids = redis.call('LRANGE', fifoKey, 0, handOut - 1)
  local data = redis.call('HMGET', eventsKey, unpack(ids))
  local out = { 1, waiting, tries }
  for i = 1, #ids do
    out[#out + 1] = ids[i]
    -- a nil would end the reply's array
    out[#out + 1] = data[i] or ''
  end
  return out
end
