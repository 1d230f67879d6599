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
--- @include "includes/urlSuccesses"

local statusKey, latencyKey, probeKey, heldKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local breakAfter, probeEvery, latenciesKept = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local failedStatus, failedError, runId = ARGV[4], ARGV[5], ARGV[6]
local FIRST_LATENCY = 7
local failed = failedStatus ~= ''

local now = nowMs()
local resumed, held = 0, {}
if #ARGV >= FIRST_LATENCY then
  resumed, held = recordSuccesses(statusKey, latencyKey, probeKey, heldKey, FIRST_LATENCY, #ARGV, latenciesKept, now)
end
local pausedNow = 0
if failed then
  redis.call('HSET', statusKey, 'lastStatus', failedStatus, 'lastError', failedError, 'lastErrorAt', now)
  local since = tonumber(redis.call('HGET', statusKey, 'failingSince'))
  if not since then
    since = now
    redis.call('HSET', statusKey, 'failingSince', now)
  end
  if breakAfter > 0 and not redis.call('HGET', statusKey, 'paused') and now - since >= breakAfter then
    redis.call('HSET', statusKey, 'paused', now)
    redis.call('SET', probeKey, 'paused', 'PX', probeEvery)
    pausedNow = 1
  end
end
local paused = 0
local wait = 0
if redis.call('HGET', statusKey, 'paused') then
  paused = 1
  wait = redis.call('PTTL', probeKey)
  if wait < 0 then wait = 0 end
  if failed then
    redis.call('SADD', heldKey, runId)
  end
end
local out = { resumed, pausedNow, paused, wait }
for i = 1, #held do
  out[#out + 1] = held[i]
end
return out
