--[[
  Appends events to their lanes, several lanes in one call: what enqueueWebhook does for
  one, for each in turn (the events of one node's turn of the event loop, on a Redis that
  holds every lane; a cluster spreads lanes over slots and takes enqueueWebhook per event).
  Two events of one lane go in the order given.

  Input:
    KEYS per event k (k = 0 .. n-1), four keys, as enqueueWebhook's:
      KEYS[1 + 4k] lane FIFO    '<prefix>:{wl:<lane>}:fifo'
      KEYS[2 + 4k] lane events  '<prefix>:{wl:<lane>}:events'
      KEYS[3 + 4k] seen ids     '<prefix>:{wl:<lane>}:seen'
      KEYS[4 + 4k] lane run     '<prefix>:{wl:<lane>}:run'

    ARGV[1] dedupe window     ms
    ARGV per event k, three values:
      ARGV[2 + 3k] delivery id
      ARGV[3 + 3k] event data JSON
      ARGV[4 + 3k] run job id, used if this event starts a run

  Output: per event, enqueueWebhook's reply { position or -1, run id, started, idle ms },
          or the error of that event alone: each event fares as if called by itself
]]
--- @include "includes/nowMs"
--- @include "includes/laneEnqueue"
--- @include "includes/eachAlone"

local window = tonumber(ARGV[1])
local now = nowMs()
local out = {}
for k = 0, #KEYS / 4 - 1 do
  local key, arg = 4 * k, 2 + 3 * k
  out[k + 1] = alone(enqueueLaneEvent, KEYS[key + 1], KEYS[key + 2], KEYS[key + 3], KEYS[key + 4], ARGV[arg], ARGV[arg + 1], window, ARGV[arg + 2], now)
end
return out
