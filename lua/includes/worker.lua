-- The worker hash ('<shard>w:<wid>'), laid out to stay a listpack, Redis' compact encoding of
-- a small hash, on a Redis with default settings: short field names, and no value longer
-- than hash-max-listpack-value (64 bytes; one longer value turns the whole hash into a
-- hashtable, about twice the memory). docs/registry.md lists the fields.
local F_GEN = 'v'         -- generation: Redis ms at creation, plus one per re-open
local F_REOPENS = 'o'     -- re-opens (absent = 0): created at = generation - re-opens
local F_CLOSED_AT = 'x'   -- ms the last guard went (absent while open)
local F_CONNECTED = 'k'   -- '1' once the participant was active (absent = not)
local F_LEFT = 'l'        -- '1' once this generation's leave was raised (absent = not)
local F_REFS = 'r'        -- guards held
local F_ROOM_NAME = 'n'   -- long values, in pieces (setLong)
local F_IDENTITY = 'u'
local F_INFO = 'i'        -- ParticipantInfo JSON, compacted by the caller (lib/registry/info-codec.ts)
local F_NODES = 'N'       -- node indexes naming the worker (includes/guards)
local GUARD_PREFIX = '@'  -- '@<guard>' = '<nodeId>|<added at, ms>'

-- A value is kept in pieces of at most PIECE bytes: field '<name>' the first, '<name>1',
-- '<name>2', ... the others. A piece never ends inside a UTF-8 character, so each is text a
-- client decodes on its own.
local PIECE = 64

-- Appends to `set` (HSET arguments) the pieces of `value` (not empty), and deletes the
-- pieces of a longer value stored before.
local function setLong(worker, set, name, value)
  local i, n = 1, 0
  while i <= #value do
    local j = math.min(i + PIECE - 1, #value)
    while j < #value and j > i do
      local b = string.byte(value, j + 1)
      if b < 128 or b >= 192 then break end -- the next byte starts a character
      j = j - 1
    end
    set[#set + 1] = n == 0 and name or (name .. n)
    set[#set + 1] = string.sub(value, i, j)
    i, n = j + 1, n + 1
  end
  while redis.call('HEXISTS', worker, name .. n) == 1 do
    redis.call('HDEL', worker, name .. n)
    n = n + 1
  end
end

-- The whole value whose first piece is `first` (nil if absent).
local function getLong(worker, name, first)
  if not first then return nil end
  local parts = { first }
  for n = 1, 1e9 do
    local piece = redis.call('HGET', worker, name .. n)
    if not piece then break end
    parts[#parts + 1] = piece
  end
  return table.concat(parts)
end

-- The same, from a hash read whole (HGETALL as a table).
local function joinLong(h, name)
  local first = h[name]
  if not first then return nil end
  local parts = { first }
  for n = 1, 1e9 do
    local piece = h[name .. n]
    if not piece then break end
    parts[#parts + 1] = piece
  end
  return table.concat(parts)
end
