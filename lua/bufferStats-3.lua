--[[
  Buffers track stats against their participants' workers (trackStats), many in one
  call: a stat for a participant with no worker is dropped, as LiveKit does. Also adds
  the per-direction traffic counters, which count every stat, buffered or not.

  Input:
    KEYS[1] dirty workers     '<shard>dirty' (set of wids with stats to flush)
    KEYS[2] counters          '<shard>counters' (hash)
    KEYS[3] shard base

    ARGV[1] number of counter pairs C
    ARGV[2 .. 1+2C]           counter field, delta
    then triples              wid, '<in|out>|<trackId>', stat (protobuf JSON)

  Output: number of stats buffered
]]
local dirty, counters, shardBase = KEYS[1], KEYS[2], KEYS[3]
local c = tonumber(ARGV[1])
for i = 2, 1 + 2 * c, 2 do
  redis.call('HINCRBY', counters, ARGV[i], ARGV[i + 1])
end

local exists = {}
local buffered = 0
for i = 2 + 2 * c, #ARGV, 3 do
  local wid = ARGV[i]
  local known = exists[wid]
  if known == nil then
    known = redis.call('EXISTS', shardBase .. 'w:' .. wid) == 1
    exists[wid] = known
    if known then redis.call('SADD', dirty, wid) end
  end
  if known then
    redis.call('RPUSH', shardBase .. 'stats:' .. wid, ARGV[i + 1] .. '\n' .. ARGV[i + 2])
    buffered = buffered + 1
  end
end
return buffered
