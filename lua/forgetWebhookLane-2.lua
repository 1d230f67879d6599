--[[
  A run is over (its lane drained, or the lane moved on without it): the lane leaves its
  URL's lanes with work if the entry still names that run (a lane given a new run meanwhile
  names the new run, and stays), and an inline run leaves the URL's index of inline runs.

  Input:
    KEYS[1] URL's lanes       '<prefix>:{wu:<url>}:lanes' (hash lane id -> its run's job id)
    KEYS[2] URL's inline runs '<prefix>:{wu:<url>}:inline' (zset inline run id -> deadline)

    ARGV[1] lane id
    ARGV[2] the run's id

  Output: 1 if the lane was taken off its URL's lanes with work, else 0
]]
local laneId = ARGV[1]
local runId = ARGV[2]
redis.call('ZREM', KEYS[2], runId)
if redis.call('HGET', KEYS[1], laneId) == runId then
  return redis.call('HDEL', KEYS[1], laneId)
end
return 0
