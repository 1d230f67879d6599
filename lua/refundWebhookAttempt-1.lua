--[[
  Takes back the attempt a pickup counted for its lane's head when it started: the attempt
  was held (its URL paused) or was a paused URL's probe, which must not use up the event's
  attempts. Only the pickup that owns the lane, on the head it counted, takes it back.

  Input:
    KEYS[1] lane run          '<prefix>:{wl:<lane>}:run' (hash: job, owner, head, tries, at)

    ARGV[1] run job id
    ARGV[2] BullMQ token of the pickup
    ARGV[3] head's delivery id

  Output: the head's attempts now, or -1 when this pickup does not own the lane
]]
local runKey = KEYS[1]
local runId, token, headId = ARGV[1], ARGV[2], ARGV[3]
local run = redis.call('HMGET', runKey, 'job', 'owner', 'head', 'tries')
local job, owner, head = run[1], run[2], run[3]
if job ~= runId or owner ~= token or head ~= headId then
  return -1
end
local tries = tonumber(run[4]) or 0
if tries > 0 then
  tries = redis.call('HINCRBY', runKey, 'tries', -1)
end
return tries
