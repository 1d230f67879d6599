--[[
  Buffers track stats against their participants' workers (trackStats), many in one
  call: a stat for a participant with no worker is dropped, as LiveKit does. Also adds
  the per-direction traffic counters, which count every stat, buffered or not. A counter
  Redis cannot add (past int64, or not a number) is left as it is: the call carries the
  stats of every request of the tick, and none of them may fail for a counter.

  Input:
    KEYS[1] dirty workers     '<shard>dirty' (set of wids with stats to flush)
    KEYS[2] counters          '<shard>counters' (hash)
    KEYS[3] shard base

    ARGV[1] number of counter pairs C
    ARGV[2 .. 1+2C]           counter field, delta
    ARGV[2+2C]                the stats, one string: per stat
                              '<wid>\n<in|out>|<trackId>\n<stat JSON>\n'
                              (ids hold no newline, and JSON escapes its own; one argument
                              instead of three per stat halves the client's encoding work)

  Output: number of stats buffered
]]
local dirty, counters, shardBase = KEYS[1], KEYS[2], KEYS[3]
local c = tonumber(ARGV[1])
for i = 2, 1 + 2 * c, 2 do
  redis.pcall('HINCRBY', counters, ARGV[i], ARGV[i + 1])
end

local payload = ARGV[2 + 2 * c]
local exists = {}
local buffered = 0
local pos = 1
while pos <= #payload do
  local a = string.find(payload, '\n', pos, true)
  local b = string.find(payload, '\n', a + 1, true)
  local e = string.find(payload, '\n', b + 1, true)
  local wid = string.sub(payload, pos, a - 1)
  local known = exists[wid]
  if known == nil then
    known = redis.call('EXISTS', shardBase .. 'w:' .. wid) == 1
    exists[wid] = known
    if known then redis.call('SADD', dirty, wid) end
  end
  if known then
    -- the entry kept is '<in|out>|<trackId>\n<stat JSON>'
    redis.call('RPUSH', shardBase .. 'stats:' .. wid, string.sub(payload, a + 1, e - 1))
    buffered = buffered + 1
  end
  pos = e + 1
end
return buffered
