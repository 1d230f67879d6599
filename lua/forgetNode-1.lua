--[[
  Drops an expired SFU node's lease once all its guards are released, unless the node
  was heard from again meanwhile (then it is alive and keeps its lease).

  Input:
    KEYS[1] node leases

    ARGV[1] nodeId
    ARGV[2] last seen (ms) when expiry began ('' = unconditionally: the node left)

  Output: 1 if forgotten, else 0
]]
local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
if ARGV[2] ~= '' and seen and tonumber(seen) ~= tonumber(ARGV[2]) then
  return 0
end
return redis.call('ZREM', KEYS[1], ARGV[1])
