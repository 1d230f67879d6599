-- A URL's slots (WEBHOOK_MAX_IN_FLIGHT, fleet-wide) are leases in a zset (pickup -> expiry,
-- ms) that lapse unless renewed, so a dead node's slots come back by themselves. Callers
-- drop the lapsed ones first (ZREMRANGEBYSCORE -inf now).

-- Takes a slot for each lease, in order, while one is free (a lease held already keeps its
-- slot). Returns 1 or 0 per lease.
local function takeSlots(leasesKey, leases, maxInFlight, leaseMs, now)
  local held = redis.call('ZCARD', leasesKey)
  local taken = {}
  for i = 1, #leases do
    if redis.call('ZSCORE', leasesKey, leases[i]) then
      taken[i] = 1
    elseif held < maxInFlight then
      redis.call('ZADD', leasesKey, now + leaseMs, leases[i])
      held = held + 1
      taken[i] = 1
    else
      taken[i] = 0
    end
  end
  return taken
end

-- Gives back the slots of the leases ARGV[first..]. Returns the run ids waiting for a slot
-- that may go now (one per slot free), taken off the waiting queue.
local function giveSlots(leasesKey, waitingKey, first, maxInFlight)
  for i = first, #ARGV do
    redis.call('ZREM', leasesKey, ARGV[i])
  end
  local woken = {}
  local free = maxInFlight - redis.call('ZCARD', leasesKey)
  if free > 0 then
    local first = redis.call('ZPOPMIN', waitingKey, free)
    for i = 1, #first, 2 do
      woken[#woken + 1] = first[i]
    end
  end
  return woken
end
