--[[
  Settles a request's claims on event ids (see claimEvents): 'done' records the ids as
  applied; 'release' drops the claims still held by this token, so a retry can apply them.

  Input:
    KEYS[1..4] slices k-2, k-1, k, k+1 by the caller's clock

    ARGV[1] window (ms)
    ARGV[2] claim token
    ARGV[3] 'done' or 'release'
    ARGV[4 ..] event ids

  Output: number of ids settled
]]
--- @include "includes/nowMs"
--- @include "includes/eventSlices"

local now = nowMs()
local window = tonumber(ARGV[1])
local current, previous = eventSlices(KEYS, now, window)
local settled = 0
for i = 4, #ARGV do
  if ARGV[3] == 'done' then
    redis.call('HSET', current, ARGV[i], 'd')
    settled = settled + 1
  else
    for _, slice in ipairs({ current, previous }) do
      local v = slice and redis.call('HGET', slice, ARGV[i])
      if v and v ~= 'd' and string.sub(v, string.find(v, ':', 2, true) + 1) == ARGV[2] then
        redis.call('HDEL', slice, ARGV[i])
        settled = settled + 1
      end
    end
  end
end
if ARGV[3] == 'done' then redis.call('PEXPIRE', current, 2 * window) end
return settled
