--[[
  Ends a flushed batch: it was committed to analytics, so it is no longer in flight.

  Input:
    KEYS[1] batches in flight '<shard>inflight'
    KEYS[2] shard base

    ARGV[1] batch id

  Output: 1 if it was in flight
]]
redis.call('DEL', KEYS[2] .. 'batch:' .. ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])
