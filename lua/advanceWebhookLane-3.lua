--[[
  A lane's run moves on: the events it is done with (delivered, or dead-lettered) leave the
  lane, and it is handed the next ones. Only the run whose job the lane names, and of that
  job only its latest pickup (BullMQ token), moves the lane: a node that lost the job to
  stalled-job recovery and carries on is told to stop at its next call, having at most
  re-sent, under the same ids, events the new owner sends again.

  A lane whose run's job finished without emptying it (BullMQ failed it for stalling, or it
  was removed by hand), or that has no run (queued before runs existed), is given a new run
  ('restart'): only if the lane still names the finished one, so of several nodes finding
  it exactly one replaces it. The head's attempt count carries over.

  The lane counts the attempts of its head: one more each time a pickup starts on the same
  head (a retry after backoff, or a node that died mid-attempt), so an event that keeps
  failing, or keeps killing nodes, runs out of attempts.

  Input:
    KEYS[1] lane FIFO         '<prefix>:{wl:<lane>}:fifo' (list of delivery ids)
    KEYS[2] lane events       '<prefix>:{wl:<lane>}:events' (hash delivery id -> event data JSON)
    KEYS[3] lane run          '<prefix>:{wl:<lane>}:run' (hash: job, owner, head, tries, at)

    ARGV[1] run job id        ('restart': the finished run's, '' when the lane has none)
    ARGV[2] BullMQ token of this pickup ('restart': the new run's job id)
    ARGV[3] 'restart'         the lane is given the new run
            'start'           a pickup begins: it owns the lane from now on (so does the
                              first call of a run's first pickup, whatever its mode)
            'next'            the events done leave; the next ones are handed out
            'hold'            the events done leave; the head failed and waits for a retry
            'yield'           the events done leave; the node stops (shutting down), the
                              job goes back to the queue
    ARGV[4] how many events to hand out at most
    ARGV[5..] the ids done with, in lane order

  Output: 'restart': { 1 } the caller must add the new run's job, else { 0 }
          { -1 } this pickup does not own the lane (the run was superseded or taken over);
          { 0 } the lane is empty: the run is over (the lane forgets it);
          { 1, events waiting, attempts of the head counting this one, id, data, id, data, ... }
          ('hold' and 'yield' hand out no events)
]]
--- @include "includes/nowMs"

local fifoKey, eventsKey, runKey = KEYS[1], KEYS[2], KEYS[3]
local runId, token, mode, handOut = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local FIRST_DONE = 5

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
  redis.call('HSET', runKey, 'job', newRunId, 'at', nowMs())
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
for i = FIRST_DONE, #ARGV do
  if redis.call('LINDEX', fifoKey, 0) ~= ARGV[i] then break end
  redis.call('LPOP', fifoKey)
  redis.call('HDEL', eventsKey, ARGV[i])
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
redis.call('HSET', runKey, 'head', head, 'tries', tries, 'at', nowMs())
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
