--[[
  Releases, in one shard, the guards an SFU node held when its expiry began (its lease
  lapsed, or it left). Guards it added after `cutoff` (it came back) are kept.
  Each worker left with no guard closes; the leave is raised for it unless this
  generation already raised one; a raised leave is recorded in the shard's leave outbox.

  Input:
    KEYS[1] the node's guards in this shard   '<shard>node:<nodeId>'
    KEYS[2] closed index
    KEYS[3] shard base

    ARGV[1] nodeId
    ARGV[2] cutoff (ms): release guards added at or before it ('+inf' = all)
    ARGV[3] limit: guards to release in this call

  Output: { more (0/1),
            then per worker that closed: wid, wasConnected, raiseLeave, generation,
            roomName, identity, info }
]]
--- @include "includes/nowMs"
--- @include "includes/guards"
--- @include "includes/leaves"

local nodeKey, closedKey, shardBase = KEYS[1], KEYS[2], KEYS[3]
local nodeId = ARGV[1]
local now = nowMs()
local members = redis.call('ZRANGEBYSCORE', nodeKey, '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = { 0 }

for _, member in ipairs(members) do
  local p1 = string.find(member, '|', 1, true)
  local p2 = string.find(member, '|', p1 + 1, true)
  local wid = string.sub(member, 1, p2 - 1)
  local guard = string.sub(member, p2 + 1)
  local worker = shardBase .. 'w:' .. wid
  local state = redis.call('HMGET', worker, 'g:' .. guard, 'refs', 'connected', 'left', 'gen', 'roomName', 'identity', 'info')
  if state[1] == nodeId then
    local refs = dropGuard(worker, shardBase, wid, guard, nodeId, tonumber(state[2]))
    if refs > 0 then
      redis.call('HSET', worker, 'refs', refs)
    else
      redis.call('HSET', worker, 'refs', 0, 'closedAt', now, 'left', '1')
      redis.call('ZADD', closedKey, now, wid)
      if state[4] ~= '1' then
        recordLeave(shardBase, wid, state[5], state[3] == '1', '', state[8] or '', state[6] or '', state[7] or '', now)
      end
      out[#out + 1] = wid
      out[#out + 1] = tonumber(state[3])
      out[#out + 1] = state[4] == '1' and 0 or 1
      out[#out + 1] = tonumber(state[5])
      out[#out + 1] = state[6] or ''
      out[#out + 1] = state[7] or ''
      out[#out + 1] = state[8] or ''
    end
  else
    -- the worker was reaped or the guard moved to another node: drop the stale entry
    redis.call('ZREM', nodeKey, member)
  end
end

if #members == tonumber(ARGV[3]) and redis.call('ZCOUNT', nodeKey, '-inf', ARGV[2]) > 0 then
  out[1] = 1
end
return out
