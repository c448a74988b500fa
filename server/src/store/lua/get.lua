-- get: one task and, while it is queued, its 0-based rank in the queue.
-- KEYS[1] queue   KEYS[2] the task's hash
-- Returns {} when missing, else {{field, value, ...}, rank or -1}
local f = redis.call('HGETALL', KEYS[2])
if #f == 0 then
  return {}
end
local rank = redis.call('ZRANK', KEYS[1], ARGV[1])
return {f, rank or -1}
