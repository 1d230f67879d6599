-- The leave outbox of a shard: '<shard>leaves' (hash wid|gen -> record, zset '<shard>leaves:at'
-- by time recorded). A leave is recorded in the same step that decides it, so a node that
-- dies before queueing the webhook leaves it for the sweep; the relay acks it when queued.
local function recordLeave(leavesKey, leavesAtKey, wid, gen, connected, room, info, roomName, identity, now)
  local id = wid .. '|' .. gen
  redis.call('HSET', leavesKey, id, cjson.encode({
    wid = wid, gen = tonumber(gen), connected = connected, room = room, info = info,
    roomName = roomName, identity = identity, at = now,
  }))
  redis.call('ZADD', leavesAtKey, now, id)
end
