--[[
  Takes a lane off its URL's lanes with work when the run that drained it is still the one
  the entry names: a lane given a new run meanwhile names the new run, and stays.

  Input:
    KEYS[1] URL's lanes       '<prefix>:{wu:<url>}:lanes' (hash lane id -> its run's job id)

    ARGV[1] lane id
    ARGV[2] the run job id that drained it

  Output: 1 if taken off, else 0
]]
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
