-- The event-id slices (claimEvents, settleEvents): KEYS are '<base><slice number>' for the
-- four slices around the caller's clock; Redis TIME picks the current one and the one
-- before. A caller whose clock is off by more than a window is refused.
local function eventSlices(keys, now, window)
  local slice = math.floor(now / window)
  local current, previous
  for _, key in ipairs(keys) do
    local n = tonumber(string.match(key, '(%d+)$'))
    if n == slice then current = key elseif n == slice - 1 then previous = key end
  end
  if not current then
    error('event id slices: this node clock is more than a window away from Redis TIME')
  end
  return current, previous
end
