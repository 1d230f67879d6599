--[[
  Releases one guard of a worker (participantLeft). Reads `connected` in the same step,
  so the leave webhook is decided on the state the release saw. Also decides whether this
  leave is the one that raises participant_left / participant_connection_aborted: at
  most one per generation of the worker.

  Input:
    KEYS[1] worker
    KEYS[2] closed index
    KEYS[3] shard base

    ARGV[1] wid
    ARGV[2] guard             ('' = no reference change)
    ARGV[3] participant info  ('' keeps what is stored)
    ARGV[4] raise leave       '1' if the caller asked for events (shouldSendEvent)

  Output: { found (0/1), wasConnected (0/1), closedNow (0/1), raiseLeave (0/1), generation }
]]
--- @include "includes/nowMs"
--- @include "includes/guards"

local worker, closedKey, shardBase = KEYS[1], KEYS[2], KEYS[3]
local state = redis.call('HMGET', worker, 'gen', 'connected', 'closedAt', 'left')
if not state[1] then
  return { 0, 0, 0, 0, 0 }
end

if ARGV[3] ~= '' then redis.call('HSET', worker, 'info', ARGV[3]) end

local closedNow = 0
if ARGV[2] ~= '' and not state[3] then
  if releaseGuard(worker, closedKey, shardBase, ARGV[1], ARGV[2], nowMs()) then
    closedNow = 1
  end
end

local raise = 0
if ARGV[4] == '1' and state[4] ~= '1' then
  raise = 1
  redis.call('HSET', worker, 'left', '1')
end

return { 1, tonumber(state[2]), closedNow, raise, tonumber(state[1]) }
