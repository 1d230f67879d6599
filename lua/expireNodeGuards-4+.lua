--[[
  Releases, in one shard, the guards an SFU node held when its expiry began (its lease
  lapsed, or it left), on the workers the caller read from the node's index (a chunk of it;
  the caller walks the index with SSCAN). Guards the node added after `cutoff` (it came
  back) are kept. Each worker left with no guard closes; the leave is raised for it unless
  this generation already raised one; a raised leave is recorded in the shard's leave outbox.
  A worker that holds none of the node's guards any more (released, reaped, or moved to
  another node) leaves the node's index.

  Input:
    KEYS[1] the node's index  '<shard>node:<nodeId>' (set of wids)
    KEYS[2] closed index      '<shard>closed'
    KEYS[3] leave outbox      '<shard>leaves'
    KEYS[4] leave times       '<shard>leaves:at'
    KEYS[5 ..] workers        '<shard>w:<wid>', one per wid of ARGV[3 ..]

    ARGV[1] nodeId
    ARGV[2] cutoff (ms): release guards added at or before it ('+inf' = all)
    ARGV[3 ..] wids, as read from the node's index

  Output: per worker that closed, a pair: leaveId, record
          (leaveId: the id of the leave this closing raised, recorded in the outbox; '' if this
          generation's leave was raised before. record: the worker's leave record, as
          includes/leaves makes it, whether raised or not)
]]
--- @include "includes/nowMs"
--- @include "includes/worker"
--- @include "includes/guards"
--- @include "includes/leaves"

local nodeKey, closedKey, leavesKey, leavesAtKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local FIRST_WORKER_KEY = 5
local nodeId = ARGV[1]
local cutoff = ARGV[2] == '+inf' and math.huge or tonumber(ARGV[2])
local FIRST_WID = 3
local now = nowMs()
local out = {}

for i = FIRST_WID, #ARGV do
  local wid, worker = ARGV[i], KEYS[FIRST_WORKER_KEY + i - FIRST_WID]
  local flat = redis.call('HGETALL', worker)
  local h = {}
  local dropped = {}
  local keep = false
  for j = 1, #flat, 2 do
    local field, value = flat[j], flat[j + 1]
    h[field] = value
    if string.sub(field, 1, 1) == GUARD_PREFIX then
      local owner, added = guardOwner(value)
      if owner == nodeId then
        if added <= cutoff then dropped[#dropped + 1] = field else keep = true end
      end
    end
  end

  local set = {}
  if not keep then
    redis.call('SREM', nodeKey, wid)
    if h[F_NODES] then
      local nodes = unlistNode(h[F_NODES], nodeId)
      if nodes == '' then redis.call('HDEL', worker, F_NODES) else set = { F_NODES, nodes } end
    end
  end
  if #dropped > 0 then
    redis.call('HDEL', worker, unpack(dropped))
    local refs = tonumber(h[F_REFS]) - #dropped
    if refs > 0 then
      set[#set + 1] = F_REFS; set[#set + 1] = refs
    else
      for _, v in ipairs({ F_REFS, 0, F_CLOSED_AT, now, F_LEFT, '1' }) do set[#set + 1] = v end
      redis.call('ZADD', closedKey, now, wid)
      local roomName, identity, info = joinLong(h, F_ROOM_NAME) or '', joinLong(h, F_IDENTITY) or '', joinLong(h, F_INFO) or ''
      -- a node's leave carries no Room (''): the relay makes one from the room's ids
      local record = leaveRecord(wid, h[F_GEN], h[F_CONNECTED] == '1', '', info, roomName, identity, now)
      local id = ''
      if h[F_LEFT] ~= '1' then
        id = leaveId(wid, h[F_GEN])
        recordLeave(leavesKey, leavesAtKey, id, record, now)
      end
      out[#out + 1] = id
      out[#out + 1] = record
    end
  end
  if #set > 0 then redis.call('HSET', worker, unpack(set)) end
end
return out
