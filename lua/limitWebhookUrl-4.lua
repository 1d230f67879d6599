--[[
  A webhook URL's per-URL limits, for the whole fleet: at most a number of runs sending to
  it at once (each holds a lease that lapses unless renewed, so a dead node's slots come
  back by themselves), and optionally a rate (events/s, a token bucket kept as GCRA: the
  time the next event may go).

  A run refused for the rate still reserves its turn (the schedule moves on), and a run
  coming back finds it: held runs come back one after another at the rate instead of all
  at once. A run refused a slot waits in a queue; the run leaving a slot names the first
  waiter, for its node to wake.

  Input:
    KEYS[1] leases            '<prefix>:{wu:<url>}:leases' (zset: pickup -> lease expiry, ms)
    KEYS[2] rate              '<prefix>:{wu:<url>}:rate' (string: when the next event may go, ms)
    KEYS[3] waiting           '<prefix>:{wu:<url>}:waiting' (zset: run job id -> when it began to wait)
    KEYS[4] reserved          '<prefix>:{wu:<url>}:reserved' (zset: run job id -> when its turn comes)

    ARGV[1] 'enter'           a pickup is about to send: a slot and (with a rate) a turn
            'send'            a run holding a slot sends another event: its lease is renewed
                              and (with a rate) it is given a turn
            'leave'           the run gives its slot back
    ARGV[2] run job id
    ARGV[3] max in flight     0: no cap
    ARGV[4] ms per event      at the rate limit; 0: no rate limit
    ARGV[5] burst             events that may go at once after a quiet spell
    ARGV[6] lease ms
    ARGV[7] 'send': a turn further than this (ms) is kept for the run's next 'enter'
    ARGV[8] the pickup's lease ('<run job id>:<BullMQ token>': a node still sending for a run
            another node took over holds its own until it stops)
    ARGV[9] 'enter': 1 to be queued if no slot is free (the run will hold as a delayed job
            and be woken); 0 when it waits on its node instead

  Output: 'enter': { 1 } the slot is taken, send now;
                   { 0, ms, 1 } no slot free: wait (queued if asked; ms: when the first lease lapses)
                   { 0, ms, 2 } a slot is free but the rate says wait ms (the turn is kept)
          'send':  { 1, ms } send in ms (0: now)
          'leave': { first waiter's run job id, or '' }
]]
--- @include "includes/nowMs"

local now = nowMs()
local leasesKey, rateKey, waitingKey, reservedKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local mode, run, lease = ARGV[1], ARGV[2], ARGV[8]
local maxInFlight, perEvent, burst, leaseMs = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local keepTurnAfter, queueIfRefused = tonumber(ARGV[7]), ARGV[9] == '1'

redis.call('ZREMRANGEBYSCORE', leasesKey, '-inf', now)

if mode == 'leave' then
  redis.call('ZREM', leasesKey, lease)
  -- runs that stopped waiting long ago (their jobs gone) are forgotten
  redis.call('ZREMRANGEBYSCORE', waitingKey, '-inf', now - 600000)
  redis.call('ZREMRANGEBYSCORE', reservedKey, '-inf', now - 600000)
  if maxInFlight > 0 and redis.call('ZCARD', leasesKey) < maxInFlight then
    local first = redis.call('ZPOPMIN', waitingKey)
    if first[1] then return { first[1] } end
  end
  return { '' }
end

-- the next turn at the rate: ms from now (the schedule moves on by one event)
local function takeTurn()
  local at = tonumber(redis.call('GET', rateKey) or '0')
  if at < now then at = now end
  local wait = at - (burst - 1) * perEvent - now
  if wait < 0 then wait = 0 end
  local nextAt = at + perEvent
  redis.call('SET', rateKey, nextAt, 'PX', nextAt - now + 1000)
  return wait
end

if mode == 'send' then
  redis.call('ZADD', leasesKey, now + leaseMs, lease)
  if perEvent <= 0 then return { 1, 0 } end
  local wait = takeTurn()
  if wait > keepTurnAfter then redis.call('ZADD', reservedKey, now + wait, run) end
  return { 1, wait }
end

-- 'enter'
if maxInFlight > 0 and not redis.call('ZSCORE', leasesKey, lease) and redis.call('ZCARD', leasesKey) >= maxInFlight then
  if queueIfRefused then redis.call('ZADD', waitingKey, 'NX', now, run) end
  local first = redis.call('ZRANGE', leasesKey, 0, 0, 'WITHSCORES')
  return { 0, tonumber(first[2]) - now, 1 }
end
if perEvent > 0 then
  local turn = redis.call('ZSCORE', reservedKey, run)
  if turn then
    turn = tonumber(turn)
    if turn > now then return { 0, turn - now, 2 } end
    redis.call('ZREM', reservedKey, run)
  else
    local wait = takeTurn()
    if wait > 0 then
      redis.call('ZADD', reservedKey, now + wait, run)
      return { 0, wait, 2 }
    end
  end
end
redis.call('ZADD', leasesKey, now + leaseMs, lease)
redis.call('ZREM', waitingKey, run)
return { 1 }
