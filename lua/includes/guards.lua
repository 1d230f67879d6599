-- A guard is held in the worker hash as field 'g:<guard>' = owning node, and indexed in
-- '<shard>node:<nodeId>' (member '<wid>|<guard>', score = when it was last added) so that a
-- dead node's guards are found without walking the workers.

local function guardMember(wid, guard)
  return wid .. '|' .. guard
end

-- Indexes a guard under its node; `previousOwner` is the node that held it before, if any.
local function indexGuard(shardBase, wid, guard, nodeId, previousOwner, now)
  if previousOwner and previousOwner ~= nodeId then
    redis.call('ZREM', shardBase .. 'node:' .. previousOwner, guardMember(wid, guard))
  end
  redis.call('ZADD', shardBase .. 'node:' .. nodeId, now, guardMember(wid, guard))
end

-- Drops a held guard from the worker and its node's index. Returns the refs left; the
-- caller closes the worker (closedAt, closed index) when that reaches 0, in its own HSET.
local function dropGuard(workerKey, shardBase, wid, guard, owner, refs)
  redis.call('HDEL', workerKey, 'g:' .. guard)
  redis.call('ZREM', shardBase .. 'node:' .. owner, guardMember(wid, guard))
  return refs - 1
end
