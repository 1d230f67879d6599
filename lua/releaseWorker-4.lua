--[[
  Releases one guard of a worker (participantLeft). Reads `connected` in the same step,
  so the leave webhook is decided on the state the release saw; a guard not held changes
  nothing. The last guard closes the worker. Also decides whether this leave is the one
  that raises participant_left / participant_connection_aborted: at most one per
  generation of the worker. The guard's node index keeps its entry (see includes/guards).

  Input:
    KEYS[1] worker            '<shard>w:<wid>'
    KEYS[2] closed index      '<shard>closed'
    KEYS[3] leave outbox      '<shard>leaves'
    KEYS[4] leave times       '<shard>leaves:at'

    ARGV[1] wid
    ARGV[2] guard             ('' = no reference change)
    ARGV[3] participant info  ('' keeps what is stored)
    ARGV[4] raise leave       '1' if the caller asked for events (shouldSendEvent)
    ARGV[5] room              (protobuf JSON of the Room, kept in the leave outbox)

  Output: { found (0/1), wasConnected (0/1), closedNow (0/1), raiseLeave (0/1), generation }
]]
--- @include "includes/nowMs"
--- @include "includes/worker"
--- @include "includes/leaves"

local worker, closedKey = KEYS[1], KEYS[2]
local wid, guard = ARGV[1], ARGV[2]
local guardField = GUARD_PREFIX .. guard
local state = redis.call('HMGET', worker, F_GEN, F_CONNECTED, F_CLOSED_AT, F_LEFT, F_REFS, guardField, F_ROOM_NAME, F_IDENTITY, F_INFO)
if not state[1] then
  return { 0, 0, 0, 0, 0 }
end

local set = {}
local closedNow = 0
if guard ~= '' and state[6] and not state[3] then
  redis.call('HDEL', worker, guardField)
  local refs = tonumber(state[5]) - 1
  set[#set + 1] = F_REFS; set[#set + 1] = refs
  if refs <= 0 then
    local now = nowMs()
    closedNow = 1
    set[#set + 1] = F_CLOSED_AT; set[#set + 1] = now
    redis.call('ZADD', closedKey, now, wid)
  end
end

local raise = 0
if ARGV[4] == '1' and state[4] ~= '1' then
  raise = 1
  set[#set + 1] = F_LEFT; set[#set + 1] = '1'
  local info = ARGV[3] ~= '' and ARGV[3] or (getLong(worker, F_INFO, state[9]) or '')
  recordLeave(KEYS[3], KEYS[4], wid, state[1], state[2] == '1', ARGV[5], info,
    getLong(worker, F_ROOM_NAME, state[7]) or '', getLong(worker, F_IDENTITY, state[8]) or '', nowMs())
end

if ARGV[3] ~= '' then setLong(worker, set, F_INFO, ARGV[3]) end
if #set > 0 then redis.call('HSET', worker, unpack(set)) end
return { 1, state[2] == '1' and 1 or 0, closedNow, raise, tonumber(state[1]) }
