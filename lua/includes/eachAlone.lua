-- Runs one part of a call that carries several (lanes, say) as a call of its own would:
-- an error (a key of the wrong type) ends that part with what it wrote so far, as it would
-- end a script, and becomes that part's reply; the other parts go on.
local function alone(f, ...)
  local ok, reply = pcall(f, ...)
  if ok then return reply end
  if type(reply) == 'table' and reply.err then return redis.error_reply(reply.err) end
  return redis.error_reply(tostring(reply))
end
