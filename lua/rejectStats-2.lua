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

local stream, written = KEYS[1], KEYS[2]
local batchId, maxLen = ARGV[1], ARGV[2]
local FIRST_STAT, STAT_STRIDE = 3, 6
if redis.call('ZSCORE', written, batchId) then
  return 0
end
local now = nowMs()
local n = 0
for i = FIRST_STAT, #ARGV - STAT_STRIDE + 1, STAT_STRIDE do
  local roomId, participantId, trackId, kind, reason, data = unpack(ARGV, i, i + STAT_STRIDE - 1)
  redis.call('XADD', stream, 'MAXLEN', '~', maxLen, '*',
    'data', data, 'reason', reason, 'roomId', roomId, 'participantId', participantId,
    'trackId', trackId, 'kind', kind, 'batchId', batchId)
  n = n + 1
end
redis.call('ZADD', written, now, batchId)
-- the flush drops its id once the batch is finished; this trims what a dead flush left
redis.call('ZREMRANGEBYSCORE', written, '-inf', now - 86400000)
return n
