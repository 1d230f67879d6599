--[[
  Several lanes' runs move on in one call: what advanceWebhookLane does for one, for each
  in turn (the runs of one node's turn of the event loop, on a Redis that holds every
  lane; a cluster spreads lanes over slots and takes advanceWebhookLane per run).

  Input:
    KEYS per run k (k = 0 .. n-1), three keys, as advanceWebhookLane's:
      KEYS[1 + 3k] lane FIFO    '<prefix>:{wl:<lane>}:fifo'
      KEYS[2 + 3k] lane events  '<prefix>:{wl:<lane>}:events'
      KEYS[3 + 3k] lane run     '<prefix>:{wl:<lane>}:run'

    ARGV per run, in the order of their keys: run job id, token, mode, how many events to
      hand out at most, the number d of ids done with, then those d ids (advanceWebhookLane's
      ARGV, with d before the ids)

  Output: per run, advanceWebhookLane's reply, or the error of that run alone: each run
          fares as if called by itself
]]
--- @include "includes/nowMs"
--- @include "includes/laneAdvance"
--- @include "includes/eachAlone"

local now = nowMs()
local out = {}
local arg = 1
for k = 0, #KEYS / 3 - 1 do
  local key = 3 * k
  local done = tonumber(ARGV[arg + 4])
  local first = arg + 5
  out[k + 1] = alone(advanceLane, KEYS[key + 1], KEYS[key + 2], KEYS[key + 3], ARGV[arg], ARGV[arg + 1], ARGV[arg + 2], tonumber(ARGV[arg + 3]), ARGV, first, first + done - 1, now)
  arg = first + done
end
return out
