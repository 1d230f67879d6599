--[[
  A webhook URL's slots (WEBHOOK_MAX_IN_FLIGHT, fleet-wide) taken or given back by several
  runs at once: the runs of one node starting or ending at the same moment, when the URL
  has no rate limit (limitWebhookUrl-4.lua does the rest: rates, queueing for a slot, renewals).
  Same leases, same bounds: a taken slot is a lease that lapses unless renewed.

  Input:
    KEYS[1] leases            '<prefix>:{wu:<url>}:leases' (zset: pickup -> lease expiry, ms)
    KEYS[2] waiting           '<prefix>:{wu:<url>}:waiting' (zset: run job id -> when it began to wait)

    ARGV[1] 'take'            each pickup takes a slot if one is free, in order
            'give'            each pickup gives its slot back
    ARGV[2] max in flight     (> 0)
    ARGV[3] lease ms
    ARGV[4..] the pickups' leases ('<run id>:<token>')

  Output: 'take': { 1 or 0 per pickup, in order: the slot taken, or none free }
          'give': { the run ids waiting for a slot that may go now (one per slot free) }
]]
--- @include "includes/nowMs"

local now = nowMs()
local mode = ARGV[1]
local maxInFlight = tonumber(ARGV[2])
local leaseMs = tonumber(ARGV[3])
local FIRST_LEASE = 4
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local out = {}
if mode == 'take' then
  local held = redis.call('ZCARD', KEYS[1])
  for i = FIRST_LEASE, #ARGV do
    if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
      out[#out + 1] = 1
    elseif held < maxInFlight then
      redis.call('ZADD', KEYS[1], now + leaseMs, ARGV[i])
      held = held + 1
      out[#out + 1] = 1
    else
      out[#out + 1] = 0
    end
  end
  return out
end
-- 'give'
for i = FIRST_LEASE, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
end
local free = maxInFlight - redis.call('ZCARD', KEYS[1])
if free > 0 then
  local first = redis.call('ZPOPMIN', KEYS[2], free)
  for i = 1, #first, 2 do
    out[#out + 1] = first[i]
  end
end
return out
