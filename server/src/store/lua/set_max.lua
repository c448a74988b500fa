-- set_max: sets max_workers. Lowering it never touches running tasks: the pool drains.
-- KEYS[1] the pool's prefix
-- ARGV[1] new max_workers (1..64, checked by the caller)
-- Returns the previous value.
local prev = redis.call('HGET', K.config, 'max_workers')
redis.call('HSET', K.config, 'max_workers', ARGV[1])
redis.call('PUBLISH', K.events, 'config')
return prev or ''
