--[[
  Ends a flushed batch: it was committed to analytics (or dead-lettered), so it is no longer
  in flight. Given a claim, only that claim's holder ends it: a flush whose lease lapsed and
  whose batch was handed out again leaves the batch to the new claimant, who may still be
  committing it.

  Input:
    KEYS[1] batches in flight '<shard>inflight'
    KEYS[2] claims            '<shard>inflight:claims'
    KEYS[3] the batch         '<shard>batch:<id>'

    ARGV[1] batch id
    ARGV[2] claim, as claimStats returned it ('' = whichever)

  Output: 1 if this call ended the batch, else 0
]]
local inflight, claims, batchKey = KEYS[1], KEYS[2], KEYS[3]
local id, claim = ARGV[1], ARGV[2]
if claim ~= '' and redis.call('HGET', claims, id) ~= claim then
  return 0
end
redis.call('DEL', batchKey)
redis.call('HDEL', claims, id)
return redis.call('ZREM', inflight, id)
