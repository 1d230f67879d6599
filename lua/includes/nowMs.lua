-- The fleet's one clock: Redis TIME, so nodes with skewed clocks agree on every deadline.
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
