-- stats_sample: records the pool's gauges in the current minute (see the minute hashes in
-- common.lua): the running and queued counts now ('r', 'q'), the highest seen this minute
-- ('rx', 'qx') and the limit ('m'). Every replica runs it every few seconds; samples from
-- several replicas only make the minute's maxima more exact.
-- KEYS[1] the pool's prefix
-- Returns {running, queued, limit}.
local now = now_ms()
local k = minute_key(now)
local running, queued = redis.call('ZCARD', K.running), redis.call('ZCARD', K.queue)
local limit = max_workers()
local h = redis.call('HMGET', k, 'rx', 'qx')
redis.call('HSET', k, 'r', running, 'q', queued, 'm', limit,
  'rx', math.max(running, tonumber(h[1] or '0')), 'qx', math.max(queued, tonumber(h[2] or '0')))
redis.call('PEXPIRE', k, MINUTE_KEEP_MS)
return {running, queued, limit}
