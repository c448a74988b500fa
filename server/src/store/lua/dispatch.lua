-- dispatch: moves queued tasks into free slots, each only if it is the next task that may
-- start (see admit in common.lua), and (inline mode) pushes each one's Celery message to the
-- broker list in the same atomic step.
-- KEYS[1] the pool's prefix
-- ARGV[1] inline (1: LPUSH here; 0: the caller publishes, then confirms)
-- ARGV[2..] groups of 5: id, celery id, message, broker list, delivery tag
-- Returns {reason, {id, token}, ...}; reason is 'done', 'full', 'moved' or 'paused'.
if (#ARGV - 1) % 5 ~= 0 then
  return redis.error_reply('dispatch: candidates come in groups of 5')
end
local stop, out = admit(ARGV, 2, ARGV[1] == '1', now_ms())
if #out > 0 then
  redis.call('PUBLISH', K.events, 'dispatch')
end
table.insert(out, 1, stop)
return out
