-- set_max: sets max_workers. Lowering it never touches running tasks: the pool drains.
-- KEYS[1] config   KEYS[2] events
-- ARGV[1] new max_workers (1..64, checked by the caller)
-- Returns the previous value.
local prev = redis.call('HGET', KEYS[1], 'max_workers')
redis.call('HSET', KEYS[1], 'max_workers', ARGV[1])
redis.call('PUBLISH', KEYS[2], 'config')
return prev or ''
