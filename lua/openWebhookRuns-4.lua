--[[
  Runs of one URL open, several at once (the runs of one node starting at the same
  moment): each may note an inline run, take a slot of the URL, and the first that asks
  takes the URL's dead letters not yet reported.

  An inline run (sent by a node in-process, not a BullMQ job) is noted as the lane's run in
  the URL's lanes with work, and in the URL's index of inline runs with a deadline: if it
  is not over by then (its node died), any node's sweep hands the lane to a BullMQ job. An
  inline run noted already keeps its deadline. Its slot is taken with the note when its
  node can send it at once, so starting it asks Redis nothing more.

  Dead letters not yet reported are taken, not read: lanes of one URL deliver side by side
  and each dead letter is reported once (a node dying before its POST ends loses the
  count: under-reported rather than reported twice).

  Input:
    KEYS[1] URL's lanes       '<prefix>:{wu:<url>}:lanes' (hash lane id -> its run's job id)
    KEYS[2] URL's inline runs '<prefix>:{wu:<url>}:inline' (zset inline run id -> deadline)
    KEYS[3] dead letters not yet reported '<prefix>:{wu:<url>}:dropped' (count)
    KEYS[4] URL's slots       '<prefix>:{wu:<url>}:leases' (zset: pickup -> lease expiry, ms)

    ARGV[1] max in flight     (> 0 when any run asks for a slot)
    ARGV[2] lease ms
    ARGV[3] 1 to take the dead letters not yet reported
    ARGV[4..] per run, 4 values: lane id ('' : nothing to note), run id, deadline (ms),
              lease ('<run id>:<token>'; '': no slot asked)

  Output: { dead letters taken (0 when not asked), then per run: 1 if its slot was taken, else 0 }
]]
--- @include "includes/nowMs"
--- @include "includes/urlSlots"

local lanesKey, inlineKey, droppedKey, leasesKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local maxInFlight, leaseMs, takeDropped = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local FIRST_RUN, PER_RUN = 4, 4

local leases, leaseOf = {}, {}
for i = FIRST_RUN, #ARGV, PER_RUN do
  local laneId, runId, deadline, lease = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if laneId ~= '' then
    redis.call('HSET', lanesKey, laneId, runId)
    redis.call('ZADD', inlineKey, 'NX', deadline, runId)
  end
  if lease ~= '' then
    leases[#leases + 1] = lease
    leaseOf[i] = #leases
  end
end

local dropped = 0
if takeDropped then
  dropped = tonumber(redis.call('GETDEL', droppedKey) or '0')
end
local taken = {}
if #leases > 0 then
  local now = nowMs()
  redis.call('ZREMRANGEBYSCORE', leasesKey, '-inf', now)
  taken = takeSlots(leasesKey, leases, maxInFlight, leaseMs, now)
end
local out = { dropped }
for i = FIRST_RUN, #ARGV, PER_RUN do
  out[#out + 1] = taken[leaseOf[i]] or 0
end
return out
