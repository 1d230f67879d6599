--[[
  Settles a request's claims on event ids (see claimEvents): 'done' records the ids as
  applied; 'release' drops the claims still held by this token, so a retry can apply them;
  'renew' extends the claims still held by this token (a batch still being applied keeps
  them; one whose node died lets them lapse soon).

  Input:
    KEYS[1..4] slices k-2, k-1, k, k+1 by the caller's clock

    ARGV[1] window (ms)
    ARGV[2] claim token
    ARGV[3] 'done', 'release' or 'renew'
    ARGV[4] claim lease (ms), for 'renew'
    ARGV[5 ..] event ids

  Output: number of ids settled
]]
--- @include "includes/nowMs"
--- @include "includes/eventSlices"

local window, token, mode, lease = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
local FIRST_ID = 5
local now = nowMs()
local current, previous = eventSlices(KEYS, now, window)

-- the slice holding this token's claim on `id`, if it still holds one
local function heldIn(id)
  for _, slice in ipairs({ current, previous }) do
    local v = slice and redis.call('HGET', slice, id)
    if v then
      if v ~= 'd' and string.sub(v, string.find(v, ':', 2, true) + 1) == token then return slice end
      return nil
    end
  end
  return nil
end

local settled = 0
for i = FIRST_ID, #ARGV do
  local id = ARGV[i]
  if mode == 'done' then
    redis.call('HSET', current, id, 'd')
    settled = settled + 1
  else
    local slice = heldIn(id)
    if slice then
      if mode == 'release' then
        redis.call('HDEL', slice, id)
      else
        redis.call('HSET', slice, id, 'p' .. (now + lease) .. ':' .. token)
      end
      settled = settled + 1
    end
  end
end
if mode == 'done' then redis.call('PEXPIRE', current, 2 * window) end
return settled
