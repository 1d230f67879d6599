--[[
  Whether a lane's run may send to its URL now (the circuit breaker). A URL that failed
  every attempt for WEBHOOK_BREAK_AFTER is paused: its runs hold, except one probe per
  probe interval for the whole fleet (the slot is a key living one interval).

  Input:
    KEYS[1] URL status        '<prefix>:{wu:<url>}:status' (hash: failingSince, paused, ...)
    KEYS[2] probe slot        '<prefix>:{wu:<url>}:probe'
    KEYS[3] held runs         '<prefix>:{wu:<url>}:held' (set of run job ids, promoted on resume)

    ARGV[1] run job id
    ARGV[2] probe interval    ms

  Output: { 0 } not paused: send;
          { 1 } paused, and this run has the probe slot: send one attempt;
          { 2, ms until the next probe slot } paused: hold (the run is kept in the held set)
]]
local statusKey, probeKey, heldKey = KEYS[1], KEYS[2], KEYS[3]
local runId, probeEvery = ARGV[1], tonumber(ARGV[2])
if not redis.call('HGET', statusKey, 'paused') then
  return { 0 }
end
if redis.call('SET', probeKey, runId, 'NX', 'PX', probeEvery) then
  return { 1 }
end
redis.call('SADD', heldKey, runId)
local wait = redis.call('PTTL', probeKey)
if wait < 0 then wait = 0 end
return { 2, wait }
