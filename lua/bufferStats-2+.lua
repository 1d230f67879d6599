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
local counterPairs = tonumber(ARGV[1])
for i = 2, 1 + 2 * counterPairs, 2 do
  local field, delta = ARGV[i], ARGV[i + 1]
  redis.pcall('HINCRBY', counters, field, delta)
end

local workers = (#KEYS - 2) / 2
local firstWid = 2 + 2 * counterPairs
local payload = ARGV[firstWid + workers]
local exists = {}
local buffered = 0
local pos = 1
while pos <= #payload do
  -- '<k>\n<in|out>|<trackId>\n<stat JSON>\n': the three newlines end k, the track and the stat
  local kEnd = string.find(payload, '\n', pos, true)
  local trackEnd = string.find(payload, '\n', kEnd + 1, true)
  local statEnd = string.find(payload, '\n', trackEnd + 1, true)
  local k = tonumber(string.sub(payload, pos, kEnd - 1))
  local known = exists[k]
  if known == nil then
    local workerKey, wid = KEYS[1 + 2 * k], ARGV[firstWid + k - 1]
    known = redis.call('EXISTS', workerKey) == 1
    exists[k] = known
    if known then redis.call('SADD', dirty, wid) end
  end
  if known then
    -- the entry kept is '<in|out>|<trackId>\n<stat JSON>'
    local bufferKey = KEYS[2 + 2 * k]
    redis.call('RPUSH', bufferKey, string.sub(payload, kEnd + 1, statEnd - 1))
    buffered = buffered + 1
  end
  pos = statEnd + 1
end
return buffered
