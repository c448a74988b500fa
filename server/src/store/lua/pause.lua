-- pause: pauses or resumes the pool ('*') or one source. Paused, nothing new starts; running
-- tasks go on and the queue keeps accepting tasks. Kept in Redis, so a restart does not resume
-- by accident.
-- KEYS[1] the pool's prefix
-- ARGV[1] '*' or a source   ARGV[2] '1' pause | '0' resume
-- Returns 1 when it changed something, 0 when it was already so.
local now = now_ms()
if ARGV[2] == '1' then
  if redis.call('HSETNX', K.rules, 'p:' .. ARGV[1], fmt(now)) == 0 then
    return 0
  end
  if ARGV[1] ~= '*' then
    redis.call('SADD', K.sources, ARGV[1])
  else
    -- Paused, no slot is waiting to be refilled (refill latency, common.lua).
    redis.call('DEL', K.freed)
  end
else
  if redis.call('HDEL', K.rules, 'p:' .. ARGV[1]) == 0 then
    return 0
  end
  if ARGV[1] ~= '*' then
    unpark_source(ARGV[1], 'paused')
  end
end
redis.call('PUBLISH', K.events, 'pause')
return 1
