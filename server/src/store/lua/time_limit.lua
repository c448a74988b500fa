-- time_limit: records that a running task ran past its type's max_runtime, so that the
-- revoke the caller sends ends it failed with this error instead of cancelled (finish.lua).
-- The slot is not freed here: only the worker's answer (or the lost-worker rules) frees it.
-- Fenced by the dispatch's token.
-- KEYS[1] the pool's prefix
-- ARGV[1] id   ARGV[2] fencing token   ARGV[3] the error text
-- Returns {1, celery id} when it is recorded (now or earlier: the caller revokes again),
-- else {0}.
local t = tkey(ARGV[1])
local f = redis.call('HMGET', t, 'st', 'tok', 'cid', 'tl')
if f[1] ~= 'running' or f[2] ~= ARGV[2] then
  return {0}
end
if not f[4] then
  redis.call('HSET', t, 'tl', ARGV[3])
  redis.call('PUBLISH', K.events, 'time-limit ' .. ARGV[1])
end
return {1, f[3] or ''}
