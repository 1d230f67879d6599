--[[
  The lease of a URL's dead-letter replay: one replay of a URL at a time, fleet-wide. Two
  replays of one window side by side (a request retried after its answer was lost, two
  operators, two nodes behind a load balancer) could each find a dead letter still there
  and queue it once more after the first copy was sent: the receiver would get it twice.
  The lease expires by itself, so a node that dies mid-replay holds nobody up for long.

  Input:
    KEYS[1] replay lease      '<prefix>:{wu:<url>}:replay' (string: the replay's token, expires)

    ARGV[1] mode              'take' (if free) | 'renew' (if held by this token) | 'end' (if held by this token)
    ARGV[2] the replay's token
    ARGV[3] lease ms          (take, renew)

  Output: { 1, 0 } when done; { 0, ms until the lease held by another replay expires } when not
          ('end' of a lease another replay holds changes nothing and answers { 0, ... } too)
]]
local leaseKey = KEYS[1]
local mode, token, leaseMs = ARGV[1], ARGV[2], tonumber(ARGV[3])

if mode == 'take' then
  if redis.call('SET', leaseKey, token, 'NX', 'PX', leaseMs) then
    return { 1, 0 }
  end
  return { 0, redis.call('PTTL', leaseKey) }
end

if redis.call('GET', leaseKey) ~= token then
  return { 0, math.max(redis.call('PTTL', leaseKey), 0) }
end
if mode == 'renew' then
  redis.call('PEXPIRE', leaseKey, leaseMs)
else
  redis.call('DEL', leaseKey)
end
return { 1, 0 }
