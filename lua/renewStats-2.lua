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

local inflight, claims = KEYS[1], KEYS[2]
local id, claim, leaseMs = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('HGET', claims, id) ~= claim then
  return 0
end
-- the claim and the lease are dropped together (finishStats), so the batch is still in flight
redis.call('ZADD', inflight, 'XX', nowMs() + leaseMs, id)
return 1
