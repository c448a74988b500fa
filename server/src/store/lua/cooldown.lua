-- cooldown: stops new starts of a source until a time; its running tasks go on.
-- KEYS[1] the pool's prefix
-- ARGV[1] source   ARGV[2] 'set' | 'auto'
-- 'set': ARGV[3] how long (ms; 0 ends a cool-down now).
-- 'auto' (one of its tasks failed with a rate-limit error): ARGV[3] the base length (ms),
-- ARGV[4] the longest (ms). The first cools down for the base; each further one after the
-- last has ended doubles it, up to the longest; one while it still cools changes nothing (a
-- burst of refusals from one provider outage is one event). A success of the source resets it
-- to the base (finish.lua).
-- Returns the end of the cool-down (ms), 0 when none.
local src, now = ARGV[1], now_ms()
local cur = tonumber(redis.call('HGET', K.rules, 'c:' .. src) or '0')
local ends
if ARGV[2] == 'set' then
  local ms = tonumber(ARGV[3])
  if ms <= 0 then
    redis.call('HDEL', K.rules, 'c:' .. src)
    redis.call('HDEL', K.rules, 'x:' .. src)
    ends = 0
  else
    ends = now + ms
    redis.call('HSET', K.rules, 'c:' .. src, fmt(ends))
  end
else
  if cur > now then
    return cur
  end
  local len = tonumber(redis.call('HGET', K.rules, 'x:' .. src) or '0')
  if len == 0 then
    len = tonumber(ARGV[3])
  else
    len = math.min(len * 2, tonumber(ARGV[4]))
  end
  redis.call('HSET', K.rules, 'x:' .. src, fmt(len))
  ends = now + len
  redis.call('HSET', K.rules, 'c:' .. src, fmt(ends))
  redis.call('HINCRBY', K.stats, 'cooldowns', 1)
end
if hooks_on() then
  if ends > now then
    -- An extension of a running cool-down is not a new one.
    if cur <= now then
      hook_event('source.cooldown_started', src, fmt(ends), now)
    end
    redis.call('ZADD', K.hooks_cooling, fmt(ends), src)
  elseif cur > now then
    hook_event('source.cooldown_ended', src, '', now)
    redis.call('ZREM', K.hooks_cooling, src)
  end
end
redis.call('SADD', K.sources, src)
-- Groups parked for the old cool-down wake at its old end: judge them again.
unpark_source(src, 'cooldown')
redis.call('PUBLISH', K.events, 'cooldown')
return ends
