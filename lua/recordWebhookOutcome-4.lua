--[[
  What a run's attempts to one URL came to, for the fleet's view of the URL and its circuit
  breaker: the latencies of the deliveries that succeeded (in order), then at most one failed
  attempt after them.

  A success ends the URL's failing streak; if the URL was paused it resumes: its probe slot
  goes and the runs held meanwhile are handed back (the caller promotes their jobs). A
  failure starts the streak (failingSince) or continues it; a streak as old as the break
  interval pauses the URL, and its first probe comes a probe interval later.

  Input:
    KEYS[1] URL status        '<prefix>:{wu:<url>}:status' (hash)
    KEYS[2] latencies         '<prefix>:{wu:<url>}:latency' (list, newest first)
    KEYS[3] probe slot        '<prefix>:{wu:<url>}:probe'
    KEYS[4] held runs         '<prefix>:{wu:<url>}:held' (set)

    ARGV[1] break after       ms (0: never pause)
    ARGV[2] probe interval    ms
    ARGV[3] latencies kept    at most
    ARGV[4] failed attempt's HTTP status ('' when none failed; 0 when no answer came)
    ARGV[5] failed attempt's error
    ARGV[6] the run's job id: held (promoted on resume) if it failed while the URL is paused
    ARGV[7..] latencies (ms) of the deliveries that succeeded

  Output: { 1 if this call resumed the URL, 1 if this call paused it, 1 if the URL is paused,
            ms until its next probe slot (0 when not paused), held run ids... }
]]
--- @include "includes/nowMs"

local now = nowMs()
local resumed = 0
local held = {}
if #ARGV >= 7 then
  for i = 7, #ARGV do
    redis.call('LPUSH', KEYS[2], ARGV[i])
  end
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
  redis.call('HSET', KEYS[1], 'lastSuccessAt', now)
  local was = redis.call('HMGET', KEYS[1], 'failingSince', 'paused')
  if was[1] or was[2] then
    redis.call('HDEL', KEYS[1], 'failingSince', 'paused')
  end
  if was[2] then
    resumed = 1
    redis.call('DEL', KEYS[3])
    held = redis.call('SMEMBERS', KEYS[4])
    redis.call('DEL', KEYS[4])
  end
end
local pausedNow = 0
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'lastStatus', ARGV[4], 'lastError', ARGV[5], 'lastErrorAt', now)
  local since = tonumber(redis.call('HGET', KEYS[1], 'failingSince'))
  if not since then
    since = now
    redis.call('HSET', KEYS[1], 'failingSince', now)
  end
  local breakAfter = tonumber(ARGV[1])
  if breakAfter > 0 and not redis.call('HGET', KEYS[1], 'paused') and now - since >= breakAfter then
    redis.call('HSET', KEYS[1], 'paused', now)
    redis.call('SET', KEYS[3], 'paused', 'PX', tonumber(ARGV[2]))
    pausedNow = 1
  end
end
local paused = 0
local wait = 0
if redis.call('HGET', KEYS[1], 'paused') then
  paused = 1
  wait = redis.call('PTTL', KEYS[3])
  if wait < 0 then wait = 0 end
  if ARGV[4] ~= '' then
    redis.call('SADD', KEYS[4], ARGV[6])
  end
end
local out = { resumed, pausedNow, paused, wait }
for i = 1, #held do
  out[#out + 1] = held[i]
end
return out
