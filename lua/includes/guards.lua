-- A guard is held in the worker hash as field 'g:<guard>' = owning node, and indexed in
-- '<shard>node:<nodeId>' (member '<wid>|<guard>', score = when it was last added) so that a
-- dead node's guards are found without walking the workers.

local function guardMember(wid, guard)
  return wid .. '|' .. guard
end

-- Adds a guard (idempotent: the same guard twice counts once). Returns the new ref count.
local function holdGuard(workerKey, shardBase, wid, guard, nodeId, now)
  local field = 'g:' .. guard
  local owner = redis.call('HGET', workerKey, field)
  local refs
  if owner then
    refs = tonumber(redis.call('HGET', workerKey, 'refs'))
    if owner ~= nodeId then
      redis.call('ZREM', shardBase .. 'node:' .. owner, guardMember(wid, guard))
    end
  else
    refs = redis.call('HINCRBY', workerKey, 'refs', 1)
  end
  redis.call('HSET', workerKey, field, nodeId)
  redis.call('ZADD', shardBase .. 'node:' .. nodeId, now, guardMember(wid, guard))
  return refs
end

-- Releases a guard of an open worker; a guard not held changes nothing. When the last
-- guard goes the worker closes and enters the closed index. Returns true if it closed.
local function releaseGuard(workerKey, closedKey, shardBase, wid, guard, now)
  local field = 'g:' .. guard
  local owner = redis.call('HGET', workerKey, field)
  if not owner then
    return false
  end
  redis.call('HDEL', workerKey, field)
  redis.call('ZREM', shardBase .. 'node:' .. owner, guardMember(wid, guard))
  if redis.call('HINCRBY', workerKey, 'refs', -1) > 0 then
    return false
  end
  redis.call('HSET', workerKey, 'closedAt', now)
  redis.call('ZADD', closedKey, now, wid)
  return true
end
