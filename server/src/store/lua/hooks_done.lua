-- hooks_done: records one delivery attempt of a webhook event to every URL still pending.
-- KEYS[1] the pool's prefix
-- ARGV[1] event id   ARGV[2] the body sent ('' = keep the one stored)
-- ARGV[3] next attempt in ms (0: every URL is done, delivered or given up)
-- ARGV[4] how long the event is kept once done (ms)
-- ARGV[5..] groups of 3: url, 'delivered' | 'pending' | 'failed', last error ('' = none)
-- Returns 1, or 0 when the event is gone.
local key = K.hook .. ARGV[1]
if redis.call('EXISTS', key) == 0 then
  redis.call('ZREM', K.hooks_due, ARGV[1])
  return 0
end
local now = now_ms()
if ARGV[2] ~= '' then
  redis.call('HSETNX', key, 'body', ARGV[2])
end
redis.call('HINCRBY', key, 'att', 1)
redis.call('HSET', key, 'last', fmt(now))
for i = 5, #ARGV, 3 do
  redis.call('HSET', key, 's:' .. ARGV[i], ARGV[i + 1])
  if ARGV[i + 2] ~= '' then
    redis.call('HSET', key, 'e:' .. ARGV[i], ARGV[i + 2])
  else
    redis.call('HDEL', key, 'e:' .. ARGV[i])
  end
end
local next_in = tonumber(ARGV[3])
if next_in > 0 then
  redis.call('ZADD', K.hooks_due, fmt(now + next_in), ARGV[1])
  redis.call('HSET', key, 'next', fmt(now + next_in))
else
  redis.call('ZREM', K.hooks_due, ARGV[1])
  redis.call('HDEL', key, 'next')
  redis.call('PEXPIRE', key, tonumber(ARGV[4]))
end
return 1
