--[[
  Get-or-create a participant's stats worker and hold a guard on it
  (participantJoined / participantActive / participantResumed).

  Open worker: add the guard. Closed but not yet reaped: re-open it as a new generation
  holding only this guard, `connected` carried over. Absent: create it.

  Input:
    KEYS[1] worker            '<shard>w:<wid>'
    KEYS[2] closed index      '<shard>closed'
    KEYS[3] shard base        '<prefix>:{s<n>}:'

    ARGV[1] wid               '<roomId>|<participantId>'
    ARGV[2] roomId
    ARGV[3] roomName
    ARGV[4] participantId
    ARGV[5] identity
    ARGV[6] participant info  (protobuf JSON; '' keeps what is stored)
    ARGV[7] guard             ('' = no reference change)
    ARGV[8] nodeId            (owner of the guard)
    ARGV[9] connect           '1' also marks it connected (participantActive)

  Output: { outcome (0 open, 1 created, 2 re-opened), generation, connected (0/1), refCount }
]]
--- @include "includes/nowMs"
--- @include "includes/guards"

local worker, closedKey, shardBase = KEYS[1], KEYS[2], KEYS[3]
local wid = ARGV[1]
local now = nowMs()
local outcome = 0

local state = redis.call('HMGET', worker, 'gen', 'closedAt')
if not state[1] then
  outcome = 1
  redis.call('HSET', worker, 'room', ARGV[2], 'participant', ARGV[4], 'connected', '0',
    'gen', '1', 'refs', '0', 'left', '0', 'createdAt', now)
elseif state[2] then
  outcome = 2
  redis.call('HDEL', worker, 'closedAt')
  redis.call('HSET', worker, 'refs', '0', 'left', '0')
  redis.call('HINCRBY', worker, 'gen', 1)
  redis.call('ZREM', closedKey, wid)
end

if ARGV[3] ~= '' then redis.call('HSET', worker, 'roomName', ARGV[3]) end
if ARGV[5] ~= '' then redis.call('HSET', worker, 'identity', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HSET', worker, 'info', ARGV[6]) end
if ARGV[9] == '1' then redis.call('HSET', worker, 'connected', '1') end

local refs
if ARGV[7] ~= '' then
  refs = holdGuard(worker, shardBase, wid, ARGV[7], ARGV[8], now)
else
  refs = tonumber(redis.call('HGET', worker, 'refs'))
end

local after = redis.call('HMGET', worker, 'gen', 'connected')
return { outcome, tonumber(after[1]), tonumber(after[2]), refs }
