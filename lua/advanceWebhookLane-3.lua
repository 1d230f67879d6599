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

local run = redis.call('HMGET', KEYS[3], 'job', 'owner', 'head', 'tries')
local mode = ARGV[3]
if mode == 'restart' then
  if (run[1] or '') ~= ARGV[1] then
    return { 0 }
  end
  if redis.call('LLEN', KEYS[1]) == 0 then
    redis.call('DEL', KEYS[3])
    return { 0 }
  end
  redis.call('HSET', KEYS[3], 'job', ARGV[2], 'at', nowMs())
  redis.call('HDEL', KEYS[3], 'owner')
  return { 1 }
end
if run[1] ~= ARGV[1] then
  return { -1 }
end
if mode == 'start' or not run[2] then
  -- a pickup begins; or a run's first pickup, which sent the event it came with, calls first
  redis.call('HSET', KEYS[3], 'owner', ARGV[2])
elseif run[2] ~= ARGV[2] then
  return { -1 }
end
for i = 5, #ARGV do
  if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[i] then break end
  redis.call('LPOP', KEYS[1])
  redis.call('HDEL', KEYS[2], ARGV[i])
end
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then
  redis.call('DEL', KEYS[3])
  return { 0 }
end
-- a head new to the run has had no attempt; 'hold' reports one failed, 'yield' none
local tries = 1
if mode == 'yield' then tries = 0 end
if head == run[3] then
  tries = tonumber(run[4])
  -- an attempt is counted when it starts, so a failed one is counted already
  if mode == 'start' or mode == 'next' then tries = tries + 1 end
end
redis.call('HSET', KEYS[3], 'head', head, 'tries', tries, 'at', nowMs())
local waiting = redis.call('LLEN', KEYS[1])
if mode == 'hold' or mode == 'yield' then
  return { 1, waiting, tries }
end
local ids = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[4]) - 1)
local data = redis.call('HMGET', KEYS[2], unpack(ids))
local out = { 1, waiting, tries }
for i = 1, #ids do
  out[#out + 1] = ids[i]
  -- a nil would end the reply's array
  out[#out + 1] = data[i] or ''
end
return out
