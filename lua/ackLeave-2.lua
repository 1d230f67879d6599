--[[
  Removes a leave from the outbox once its webhook and analytics event are queued.

  Input:
    KEYS[1] leave outbox      '<shard>leaves'
    KEYS[2] leave times       '<shard>leaves:at'

    ARGV[1] leave id          (as the script that recorded the leave replied it)

  Output: 1 if it was pending
]]
local leavesKey, leavesAtKey = KEYS[1], KEYS[2]
local id = ARGV[1]
redis.call('ZREM', leavesAtKey, id)
return redis.call('HDEL', leavesKey, id)
