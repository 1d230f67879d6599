--[[
  Renews a claimed batch's lease, if the claim is still the latest: a flush checks this just
  before it commits, so one whose lease lapsed while it coalesced (and whose batch went to
  another flush) does not commit it after the other has finished it and dropped its marker.

  Input:
    KEYS[1] batches in flight '<shard>inflight'
    KEYS[2] claims            '<shard>inflight:claims'

    ARGV[1] batch id
    ARGV[2] claim, as claimStats returned it
    ARGV[3] lease (ms)

  Output: 1 if the batch is still this claim's (lease renewed), else 0
]]
--- @include "includes/nowMs"

if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then
  return 0
end
-- the claim and the lease are dropped together (finishStats), so the batch is still in flight
redis.call('ZADD', KEYS[1], 'XX', nowMs() + tonumber(ARGV[3]), ARGV[1])
return 1
