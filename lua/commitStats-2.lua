--[[
  Appends a flushed batch of AnalyticsStats to the analytics stream, once: a batch id
  already committed (a retried flush) appends nothing. The committed ids live in a key
  with the stream's name as hash tag, so both keys share a slot; the flush drops a batch's
  id once it has finished the batch (no flush can be handed it again).

  Input:
    KEYS[1] stats stream      '<prefix>:analytics:stats'
    KEYS[2] committed batches '{<prefix>:analytics:stats}:batches' (zset: id -> committed at)

    ARGV[1] batch id
    ARGV[2] stream max length (approximate trim)
    ARGV[3 ..] one AnalyticsStat (protobuf JSON) each

  Output: number of entries appended (0 if the batch was committed before)
]]
--- @include "includes/nowMs"

local stream, committed = KEYS[1], KEYS[2]
local batchId, maxLen = ARGV[1], ARGV[2]
local FIRST_STAT = 3
if redis.call('ZSCORE', committed, batchId) then
  return 0
end
local now = nowMs()
for i = FIRST_STAT, #ARGV do
  redis.call('XADD', stream, 'MAXLEN', '~', maxLen, '*', 'data', ARGV[i])
end
redis.call('ZADD', committed, now, batchId)
-- the backstop for ids a flush never dropped (it died between finishing and dropping):
-- a batch is re-offered only while its lease can lapse, and a day is far beyond that
redis.call('ZREMRANGEBYSCORE', committed, '-inf', now - 86400000)
return #ARGV - FIRST_STAT + 1
