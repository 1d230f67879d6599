--[[
  Appends stats the flush could not send to the stats dead-letter stream, once per batch: a
  batch whose flush is repeated (its lease lapsed) appends nothing the second time. The
  ids written live in a key with the stream's name as hash tag, so both keys share a slot.

  Input:
    KEYS[1] dead-letter stream '<prefix>:analytics:stats_rejected'
    KEYS[2] batches written    '{<prefix>:analytics:stats_rejected}:batches' (zset: id -> written at)

    ARGV[1] batch id
    ARGV[2] stream max length (approximate trim)
    ARGV[3 ..] per stat, six values: roomId, participantId, trackId, kind (UPSTREAM |
               DOWNSTREAM), reason, data (the stat as buffered)

  Output: number of entries appended (0 if the batch's were written before)
]]
--- @include "includes/nowMs"

if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  return 0
end
local now = nowMs()
local n = 0
for i = 3, #ARGV - 5, 6 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*',
    'data', ARGV[i + 5], 'reason', ARGV[i + 4], 'roomId', ARGV[i], 'participantId', ARGV[i + 1],
    'trackId', ARGV[i + 2], 'kind', ARGV[i + 3], 'batchId', ARGV[1])
  n = n + 1
end
redis.call('ZADD', KEYS[2], now, ARGV[1])
-- the flush drops its id once the batch is finished; this trims what a dead flush left
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 86400000)
return n
