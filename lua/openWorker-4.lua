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
    ARGV[4] participant info  (protobuf JSON; '' keeps what is stored)
    ARGV[5] guard             ('' = no reference change)
    ARGV[6] nodeId            (owner of the guard)
    ARGV[7] connect           '1' also marks it connected (participantActive)

  Output: { outcome (0 open, 1 created, 2 re-opened), generation, connected (0/1), refCount }
]]
--- @include "includes/nowMs"
--- @include "includes/guards"

local worker, closedKey, countKey, nodeKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local wid, guard, nodeId = ARGV[1], ARGV[5], ARGV[6]
local guardField = 'g:' .. guard

local state = redis.call('HMGET', worker, 'gen', 'closedAt', 'connected', 'refs', guardField, 'nodes')
local gen, connected, refs, held = tonumber(state[1]), state[3] == '1', tonumber(state[4]), state[5]
local outcome = 0
local set = {}
local now = nowMs()

if not gen then
  -- a generation never repeats for a (room, participant), even after a reap or a Redis that
  -- lost its data: a new worker starts at the Redis time in ms, and a re-open adds one
  -- (the leave's webhook id is made from it, and delivery drops an id it has seen)
  outcome, gen, connected, refs = 1, now, false, 0
  local sep = string.find(wid, '|', 1, true)
  set = { 'room', string.sub(wid, 1, sep - 1), 'participant', string.sub(wid, sep + 1),
    'gen', gen, 'left', '0', 'createdAt', now, 'counted', '1' }
  redis.call('INCR', countKey)
elseif state[2] then
  outcome, gen, refs = 2, gen + 1, 0
  redis.call('HDEL', worker, 'closedAt')
  redis.call('ZREM', closedKey, wid)
  set = { 'gen', gen, 'left', '0' }
end

if ARGV[2] ~= '' then set[#set + 1] = 'roomName'; set[#set + 1] = ARGV[2] end
if ARGV[3] ~= '' then set[#set + 1] = 'identity'; set[#set + 1] = ARGV[3] end
if ARGV[4] ~= '' then set[#set + 1] = 'info'; set[#set + 1] = ARGV[4] end
if ARGV[7] == '1' then connected = true end
set[#set + 1] = 'connected'; set[#set + 1] = connected and '1' or '0'

if guard ~= '' then
  if not held then refs = refs + 1 end
  set[#set + 1] = guardField; set[#set + 1] = nodeId .. '|' .. now
  local nodes = indexGuard(nodeKey, wid, nodeId, state[6] or '')
  if nodes then set[#set + 1] = 'nodes'; set[#set + 1] = nodes end
end
set[#set + 1] = 'refs'; set[#set + 1] = refs

redis.call('HSET', worker, unpack(set))
return { outcome, gen, connected and 1 or 0, refs }
