-- A guard is held in the worker hash as field '@<guard>' = '<nodeId>|<added at, ms>'.
-- '<shard>node:<nodeId>' (a set of wids) indexes the workers that took a guard of the node,
-- so a dead node's guards are found without walking the workers; the worker's field
-- F_NODES ('<nodeId>|<nodeId>...': node ids hold no '|') lists the indexes naming it.
--
-- A release drops the guard from the worker alone: the script releasing it knows the guard's
-- node only once it has read the worker, too late to declare that node's index among its
-- KEYS. The index entry goes when the node's expiry finds the worker holds none of the
-- node's guards, or when the worker is reaped (it passes the indexes F_NODES lists), so at
-- most one entry per worker and node outlives its guards, until the reap.

local function guardOwner(value)
  local sep = string.find(value, '|', 1, true)
  return string.sub(value, 1, sep - 1), tonumber(string.sub(value, sep + 1))
end

local function listsNode(nodes, nodeId)
  return nodes ~= '' and string.find('|' .. nodes .. '|', '|' .. nodeId .. '|', 1, true) ~= nil
end

-- Indexes the worker under the guard's node. Returns the worker's F_NODES to store, or nil
-- if it lists the node already.
local function indexGuard(nodeKey, wid, nodeId, nodes)
  redis.call('SADD', nodeKey, wid)
  if listsNode(nodes, nodeId) then return nil end
  if nodes == '' then return nodeId end
  return nodes .. '|' .. nodeId
end

-- F_NODES less one node, after its index dropped the worker.
local function unlistNode(nodes, nodeId)
  local kept = {}
  for n in string.gmatch(nodes, '[^|]+') do
    if n ~= nodeId then kept[#kept + 1] = n end
  end
  return table.concat(kept, '|')
end
