-- The leave outbox of a shard: '<shard>leaves' (hash: leave id -> record), and
-- '<shard>leaves:at' (zset: leave id by time recorded). A leave is recorded in the same step
-- that decides it, so a node that dies before queueing the webhook leaves it for the sweep;
-- the relay acks it when queued.

-- A leave's id, '<wid>|<generation>': one per worker generation, its field in the outbox.
-- Made here: the scripts reply with it, and the registry and the relay take it from their
-- replies (it also seeds the leave's webhook and analytics event ids). The one reader that
-- makes it again is WorkerRegistry.pendingLeave, which looks a generation's leave up by it.
local function leaveId(wid, gen)
  return wid .. '|' .. gen
end

-- A leave's record, as the outbox keeps it and the scripts reply with it: JSON, read by
-- decodeLeaves (lib/registry/registry.ts).
local function leaveRecord(wid, gen, connected, room, info, roomName, identity, now)
  return cjson.encode({
    wid = wid, gen = tonumber(gen), connected = connected, room = room, info = info,
    roomName = roomName, identity = identity, at = now,
  })
end

-- Puts a leave in the outbox.
local function recordLeave(leavesKey, leavesAtKey, id, record, now)
  redis.call('HSET', leavesKey, id, record)
  redis.call('ZADD', leavesAtKey, now, id)
end
