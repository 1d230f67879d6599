--[[
  Drops an expired SFU node's lease once all its guards are released, unless the node
  was heard from again meanwhile (then it is alive and keeps its lease).

  Input:
    KEYS[1] node leases       '<prefix>:{nodes}:seen' (score = last heard from, ms)

    ARGV[1] nodeId
    ARGV[2] last seen (ms) when expiry began ('' = unconditionally: the node left)

  Output: 1 if forgotten, else 0
]]
local leasesKey = KEYS[1]
local nodeId, lastSeen = ARGV[1], ARGV[2]
local seen = redis.call('ZSCORE', leasesKey, nodeId)
if lastSeen ~= '' and seen and tonumber(seen) ~= tonumber(lastSeen) then
  return 0
end
return redis.call('ZREM', leasesKey, nodeId)
