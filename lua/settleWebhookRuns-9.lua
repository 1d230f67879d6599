--[[
  Runs of one URL settle with it, several at once (the runs of one node ending or moving
  on at the same moment): the latencies of their deliveries, the lanes they drained, the
  slots they give back and the dead letters they took to report and did not.

  A success ends the URL's failing streak; a paused URL resumes (its held runs are handed
  back for the caller to promote). A drained lane leaves the URL's lanes with work if the
  entry still names the run that drained it (a lane given a new run meanwhile stays), and
  the run leaves the URL's index of inline runs. A slot given back wakes the runs waiting
  for one, one per slot free.

  Input:
    KEYS[1] URL status        '<prefix>:{wu:<url>}:status' (hash)
    KEYS[2] latencies         '<prefix>:{wu:<url>}:latency' (list, newest first)
    KEYS[3] probe slot        '<prefix>:{wu:<url>}:probe'
    KEYS[4] held runs         '<prefix>:{wu:<url>}:held' (set)
    KEYS[5] URL's lanes       '<prefix>:{wu:<url>}:lanes' (hash lane id -> its run's job id)
    KEYS[6] URL's inline runs '<prefix>:{wu:<url>}:inline' (zset inline run id -> deadline)
    KEYS[7] dead letters not yet reported '<prefix>:{wu:<url>}:dropped' (count)
    KEYS[8] URL's slots       '<prefix>:{wu:<url>}:leases' (zset: pickup -> lease expiry, ms)
    KEYS[9] runs waiting for a slot '<prefix>:{wu:<url>}:waiting' (zset: run job id -> since)

    ARGV[1] latencies kept    at most
    ARGV[2] max in flight
    ARGV[3] dead letters put back (not reported after all)
    ARGV[4] n latencies, ARGV[5] n drained lanes
    ARGV[6..] the latencies (ms) of deliveries that succeeded, then n pairs (lane id, the
              run that drained it), then the leases of the slots given back

  Output: { 1 if this call resumed the URL, the number of held runs, the held run ids...,
            then the run ids waiting for a slot that may go now... }
]]
--- @include "includes/nowMs"
--- @include "includes/urlSuccesses"
--- @include "includes/urlSlots"

local statusKey, latencyKey, probeKey, heldKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local lanesKey, inlineKey, droppedKey, leasesKey, waitingKey = KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local latenciesKept, maxInFlight, putBack = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local nLatencies, nDrained = tonumber(ARGV[4]), tonumber(ARGV[5])
local FIRST_LATENCY = 6
local firstDrained = FIRST_LATENCY + nLatencies
local firstLease = firstDrained + 2 * nDrained

local now = nowMs()
local resumed, held = 0, {}
if nLatencies > 0 then
  resumed, held = recordSuccesses(statusKey, latencyKey, probeKey, heldKey, FIRST_LATENCY, firstDrained - 1, latenciesKept, now)
end
for i = firstDrained, firstLease - 1, 2 do
  local laneId, runId = ARGV[i], ARGV[i + 1]
  redis.call('ZREM', inlineKey, runId)
  if redis.call('HGET', lanesKey, laneId) == runId then
    redis.call('HDEL', lanesKey, laneId)
  end
end
if putBack > 0 then
  redis.call('INCRBY', droppedKey, putBack)
end
local woken = {}
if firstLease <= #ARGV then
  redis.call('ZREMRANGEBYSCORE', leasesKey, '-inf', now)
  woken = giveSlots(leasesKey, waitingKey, firstLease, maxInFlight)
end
local out = { resumed, #held }
for i = 1, #held do
  out[#out + 1] = held[i]
end
for i = 1, #woken do
  out[#out + 1] = woken[i]
end
return out
