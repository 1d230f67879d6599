--[[
  Buffers track stats against their participants' workers (trackStats), many in one
  call: a stat for a participant with no worker is dropped, as LiveKit does. Also adds
  the per-direction traffic counters, which count every stat, buffered or not. A counter
  Redis cannot add (past int64, or not a number) is left as it is: the call carries the
  stats of every request of the tick, and none of them may fail for a counter.

  Input:
    KEYS[1] dirty workers     '<shard>dirty' (set of wids with stats to flush)
    KEYS[2] counters          '<shard>counters' (hash)
    KEYS[3 ..] per worker k (k = 1 .. W), two keys:
      KEYS[1 + 2k] worker        '<shard>w:<wid>'
      KEYS[2 + 2k] stats buffer  '<shard>stats:<wid>'

    ARGV[1] number of counter pairs C
    ARGV[2 .. 1+2C]           counter field, delta
    ARGV[2+2C .. 1+2C+W]      the workers' wids, in the order of their keys
    ARGV[2+2C+W]              the stats, one string: per stat
                              '<k>\n<in|out>|<trackId>\n<stat JSON>\n'
                              (k: the stat's worker; ids hold no newline, and JSON escapes its
                              own; one argument instead of three per stat halves the client's
                              encoding work)

  Output: number of stats buffered
]]
local dirty, counters = KEYS[1], KEYS[2]
local c = tonumber(ARGV[1])
for i = 2, 1 + 2 * c, 2 do
  redis.pcall('HINCRBY', counters, ARGV[i], ARGV[i + 1])
end

local workers = (#KEYS - 2) / 2
local firstWid = 2 + 2 * c
local payload = ARGV[firstWid + workers]
local exists = {}
local buffered = 0
local pos = 1
while pos <= #payload do
  local a = string.find(payload, '\n', pos, true)
  local b = string.find(payload, '\n', a + 1, true)
  local e = string.find(payload, '\n', b + 1, true)
  local k = tonumber(string.sub(payload, pos, a - 1))
  local known = exists[k]
  if known == nil then
    known = redis.call('EXISTS', KEYS[1 + 2 * k]) == 1
    exists[k] = known
    if known then redis.call('SADD', dirty, ARGV[firstWid + k - 1]) end
  end
  if known then
    -- the entry kept is '<in|out>|<trackId>\n<stat JSON>'
    redis.call('RPUSH', KEYS[2 + 2 * k], string.sub(payload, a + 1, e - 1))
    buffered = buffered + 1
  end
  pos = e + 1
end
return buffered
