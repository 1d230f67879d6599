--[[
  Claims the ids of a batch's events before any of their effects is applied, so two copies
  of one batch (an SFU retrying a lost answer, on this node or another) apply it once.
  All or nothing: if another request holds a live claim on any of the ids, nothing is
  claimed and the caller waits for that request's outcome. An id already applied is
  reported as done; a claim whose holder died (its lease lapsed) is taken over.

  Ids live in time slices of one hash each, '<prefix>:{ev:<nodeId>}:<slice>'; the current
  slice and the one before it are read, so an id is kept between one and two windows. The
  caller passes the slices around its own clock's; the script picks by Redis TIME.

  Input:
    KEYS[1..4] slices k-2, k-1, k, k+1 by the caller's clock ('<base><slice number>')

    ARGV[1] window (ms)
    ARGV[2] claim token (unique per request)
    ARGV[3] claim lease (ms): a claim not settled by then is taken over
    ARGV[4 ..] event ids

  Output: { 'wait' } if another request holds a live claim, else
          { 'ok', state1, state2, ... } with 1 = claimed now, 0 = applied before
]]
--- @include "includes/nowMs"
--- @include "includes/eventSlices"

local window, token, lease = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local FIRST_ID = 4
local now = nowMs()
local current, previous = eventSlices(KEYS, now, window)

local states = { 'ok' }
for i = FIRST_ID, #ARGV do
  local id = ARGV[i]
  local v = redis.call('HGET', current, id)
  if not v and previous then v = redis.call('HGET', previous, id) end
  if v == 'd' then
    states[#states + 1] = 0
  elseif v then
    -- 'p<deadline>:<token>': another request's claim, unless it lapsed
    local sep = string.find(v, ':', 2, true)
    if tonumber(string.sub(v, 2, sep - 1)) > now and string.sub(v, sep + 1) ~= token then
      return { 'wait' }
    end
    states[#states + 1] = 1
  else
    states[#states + 1] = 1
  end
end

local claim = 'p' .. (now + lease) .. ':' .. token
for i = FIRST_ID, #ARGV do
  -- states[1] is 'ok': id i's state is states[2 + i - FIRST_ID]
  if states[2 + i - FIRST_ID] == 1 then redis.call('HSET', current, ARGV[i], claim) end
end
-- a slice is read for two windows after it begins
redis.call('PEXPIRE', current, 2 * window + lease)
return states
