--[[
  Removes a leave from the outbox once its webhook and analytics event are queued.

  Input:
    KEYS[1] leave outbox      '<shard>leaves'
    KEYS[2] leave times       '<shard>leaves:at'

    ARGV[1] '<wid>|<generation>'

  Output: 1 if it was pending
]]
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
