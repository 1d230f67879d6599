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
    ARGV[3] participant info  (packed, as openWorker's; '' keeps what is stored)
    ARGV[4] raise leave       '1' if the caller asked for events (shouldSendEvent)
    ARGV[5] room              (protobuf JSON of the Room, kept in the leave outbox)

  Output: { found (0/1), wasConnected (0/1), closedNow (0/1), leaveId, generation }
          (leaveId: the id of the leave this call raised, recorded in the outbox; '' if none)
]]
--- @include "includes/nowMs"
--- @include "includes/worker"
--- @include "includes/leaves"

local worker, closedKey, leavesKey, leavesAtKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local wid, guard, info, raiseLeave, room = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1', ARGV[5]
local guardField = GUARD_PREFIX .. guard
local state = redis.call('HMGET', worker, F_GEN, F_CONNECTED, F_CLOSED_AT, F_LEFT, F_REFS, guardField, F_ROOM_NAME, F_IDENTITY, F_INFO)
local gen, connected, closedAt, left, refs, held = state[1], state[2] == '1', state[3], state[4] == '1', state[5], state[6]
local roomNameFirst, identityFirst, infoFirst = state[7], state[8], state[9]
if not gen then
  return { 0, 0, 0, '', 0 }
end

local set = {}
local closedNow = 0
if guard ~= '' and held and not closedAt then
  redis.call('HDEL', worker, guardField)
  refs = tonumber(refs) - 1
  set[#set + 1] = F_REFS; set[#set + 1] = refs
  if refs <= 0 then
    local now = nowMs()
    closedNow = 1
    set[#set + 1] = F_CLOSED_AT; set[#set + 1] = now
    redis.call('ZADD', closedKey, now, wid)
  end
end

local id = ''
if raiseLeave and not left then
  set[#set + 1] = F_LEFT; set[#set + 1] = '1'
  local leaveInfo = info ~= '' and info or (getLong(worker, F_INFO, infoFirst) or '')
  local now = nowMs()
  id = leaveId(wid, gen)
  recordLeave(leavesKey, leavesAtKey, id, leaveRecord(wid, gen, connected, room, leaveInfo,
    getLong(worker, F_ROOM_NAME, roomNameFirst) or '', getLong(worker, F_IDENTITY, identityFirst) or '', now), now)
end

if info ~= '' then setLong(worker, set, F_INFO, info) end
if #set > 0 then redis.call('HSET', worker, unpack(set)) end
return { 1, connected and 1 or 0, closedNow, id, tonumber(gen) }
