--[[
  Get-or-create a participant's stats worker and hold a guard on it
  (participantJoined / participantActive / participantResumed).
  A new worker's generation is the Redis time (ms), a re-opened one's is one more, so a
  participant back after its worker was reaped never gets a generation it had before.

  Open worker: add the guard (the same guard twice counts once). Closed but not yet
  reaped: re-open it as a new generation holding only this guard, `connected` carried
  over. Absent: create it, and count it in the shard's worker count, so metrics read the
  number of workers without walking them.

  Input:
    KEYS[1] worker            '<shard>w:<wid>'
    KEYS[2] closed index      '<shard>closed'
    KEYS[3] worker count      '<shard>workers'
    KEYS[4] guard's node      '<shard>node:<nodeId>' (set of wids; with no guard, '<shard>node:',
                              untouched)

    ARGV[1] wid               '<roomId>|<participantId>'
    ARGV[2] roomName          ('' keeps what is stored)
    ARGV[3] identity          ('' keeps what is stored)
    ARGV[4] participant info  (protobuf JSON packed by lib/registry/info-codec.ts; '' keeps
                              what is stored)
    ARGV[5] guard             ('' = no reference change)
    ARGV[6] nodeId            (owner of the guard)
    ARGV[7] connect           '1' also marks it connected (participantActive)

  Output: { outcome (0 open, 1 created, 2 re-opened), generation, connected (0/1), refCount }
]]
--- @include "includes/nowMs"
--- @include "includes/worker"
--- @include "includes/guards"

local worker, closedKey, countKey, nodeKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local wid, roomName, identity, info = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local guard, nodeId, connect = ARGV[5], ARGV[6], ARGV[7] == '1'
local guardField = GUARD_PREFIX .. guard

local state = redis.call('HMGET', worker, F_GEN, F_CLOSED_AT, F_CONNECTED, F_REFS, guardField, F_NODES, F_REOPENS)
local gen, closedAt, connected, refs, held = tonumber(state[1]), state[2], state[3] == '1', tonumber(state[4]), state[5]
local nodes, reopens = state[6] or '', tonumber(state[7]) or 0
local outcome = 0
local set = {}
local now = nowMs()

if not gen then
  -- a generation never repeats for a (room, participant), even after a reap or a Redis that
  -- lost its data: a new worker starts at the Redis time in ms, and a re-open adds one
  -- (the leave's webhook id is made from it, and delivery drops an id it has seen)
  outcome, gen, connected, refs = 1, now, false, 0
  set = { F_GEN, gen }
  redis.call('INCR', countKey)
elseif closedAt then
  outcome, gen, refs = 2, gen + 1, 0
  redis.call('HDEL', worker, F_CLOSED_AT, F_LEFT)
  redis.call('ZREM', closedKey, wid)
  set = { F_GEN, gen, F_REOPENS, reopens + 1 }
end

if roomName ~= '' then setLong(worker, set, F_ROOM_NAME, roomName) end
if identity ~= '' then setLong(worker, set, F_IDENTITY, identity) end
if info ~= '' then setLong(worker, set, F_INFO, info) end
if connect and not connected then
  connected = true
  set[#set + 1] = F_CONNECTED; set[#set + 1] = '1'
end

if guard ~= '' then
  if not held then refs = refs + 1 end
  set[#set + 1] = guardField; set[#set + 1] = nodeId .. '|' .. now
  local indexed = indexGuard(nodeKey, wid, nodeId, nodes)
  if indexed then set[#set + 1] = F_NODES; set[#set + 1] = indexed end
end
set[#set + 1] = F_REFS; set[#set + 1] = refs

redis.call('HSET', worker, unpack(set))
return { outcome, gen, connected and 1 or 0, refs }
