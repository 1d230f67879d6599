-- Deliveries to a URL succeeded: their latencies join the URL's latest (newest first), and
-- its failing streak ends; a paused URL resumes: its probe slot goes and the runs held
-- meanwhile are handed back. The latencies (ms) are ARGV[first..last]. Returns 1 if the URL
-- resumed, and the held run ids to promote.
local function recordSuccesses(statusKey, latencyKey, probeKey, heldKey, first, last, kept, now)
  for i = first, last do
    redis.call('LPUSH', latencyKey, ARGV[i])
  end
  redis.call('LTRIM', latencyKey, 0, kept - 1)
  redis.call('HSET', statusKey, 'lastSuccessAt', now)
  local was = redis.call('HMGET', statusKey, 'failingSince', 'paused')
  local wasFailingSince, wasPaused = was[1], was[2]
  if wasFailingSince or wasPaused then
    redis.call('HDEL', statusKey, 'failingSince', 'paused')
  end
  if not wasPaused then
    return 0, {}
  end
  redis.call('DEL', probeKey)
  local held = redis.call('SMEMBERS', heldKey)
  redis.call('DEL', heldKey)
  return 1, held
end
