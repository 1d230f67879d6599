--[[
  Runs are over (their lanes drained, or the lanes moved on without them): each lane leaves
  its URL's lanes with work if the entry still names that run (a lane given a new run
  meanwhile names the new run, and stays), and each run leaves the URL's index of inline
  runs. Several runs of one URL ending at once go in one call.

  Input:
    KEYS[1] URL's lanes       '<prefix>:{wu:<url>}:lanes' (hash lane id -> its run's job id)
    KEYS[2] URL's inline runs '<prefix>:{wu:<url>}:inline' (zset inline run id -> deadline)

    ARGV[1], ARGV[2]          a lane id, the id of its run that is over
    ARGV[3], ARGV[4] ...      the same for more runs

  Output: how many lanes were taken off their URL's lanes with work
]]
local forgotten = 0
for i = 1, #ARGV, 2 do
  local laneId, runId = ARGV[i], ARGV[i + 1]
  redis.call('ZREM', KEYS[2], runId)
  if redis.call('HGET', KEYS[1], laneId) == runId then
    forgotten = forgotten + redis.call('HDEL', KEYS[1], laneId)
  end
end
return forgotten
