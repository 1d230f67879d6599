--[[
  Deletes a worker closed for at least the cleanup wait, and its entries in the node
  indexes its field F_NODES lists (see includes/guards). A worker re-opened since it was
  listed (still open, or closed again more recently, or of another generation) is kept,
  and so is one with stats not yet flushed (the reap job flushes its shard first).
  A worker deleted leaves the shard's worker count in the same step.

  The caller passes the node indexes from the F_NODES it read; if the worker lists others
  now, nothing is changed and the reply is the worker's F_NODES, to call again with.

  A closed-index entry whose worker hash is gone (Redis evicted it, or it was deleted by
  hand), or whose worker is open (created anew after that), is dropped, with the gone
  worker's stats buffer: it would otherwise be listed as due for ever, and enough of them
  would fill every listing and stop the shard's reaping. The gone worker leaves the count.
  (Its node index entries, unknown without the hash, go when those nodes expire.)

  Input:
    KEYS[1] worker            '<shard>w:<wid>'
    KEYS[2] closed index      '<shard>closed'
    KEYS[3] worker count      '<shard>workers'
    KEYS[4] stats buffer      '<shard>stats:<wid>'
    KEYS[5 ..] node indexes   '<shard>node:<nodeId>', one per node of ARGV[4]

    ARGV[1] wid
    ARGV[2] cleanup wait (ms)
    ARGV[3] generation listed ('' = any)
    ARGV[4] the worker's F_NODES the node indexes were taken from ('' = none)

  Output: 1 if reaped, 0 if not, or (a string) the worker's F_NODES: call again with them
]]
--- @include "includes/nowMs"
--- @include "includes/worker"

local worker, closedKey, countKey, buffer = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local FIRST_NODE_KEY = 5
local wid, waitMs, listedGen, listedNodes = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local state = redis.call('HMGET', worker, F_CLOSED_AT, F_GEN, F_NODES)
local closedAt, gen, nodes = state[1], state[2], state[3] or ''
if not closedAt then
  -- only a closed worker belongs in the index (openWorker drops it there as it re-opens)
  if redis.call('ZREM', closedKey, wid) == 1 then
    if not gen then redis.call('DEL', buffer) end
    -- the hash went without a reap, so the count still holds it (never below zero, should
    -- it have been deleted by hand too)
    local count = tonumber(redis.call('GET', countKey))
    if count and count > 0 then redis.call('DECR', countKey) end
  end
  return 0
end
if tonumber(closedAt) > nowMs() - waitMs then
  return 0
end
if listedGen ~= '' and listedGen ~= gen then
  return 0
end
if redis.call('EXISTS', buffer) == 1 then
  return 0
end
if nodes ~= listedNodes then
  return nodes
end
for i = FIRST_NODE_KEY, #KEYS do redis.call('SREM', KEYS[i], wid) end
redis.call('DEL', worker)
-- never below zero, should the count have lost the worker (deleted by hand, say)
local count = tonumber(redis.call('GET', countKey))
if count and count > 0 then redis.call('DECR', countKey) end
redis.call('ZREM', closedKey, wid)
return 1
