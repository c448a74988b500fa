-- reprioritize: changes a queued task's priority; it keeps its arrival order among equals.
-- KEYS[1] the pool's prefix
-- ARGV[1] id   ARGV[2] new priority (-100..100)
-- Returns {'ok', 0-based rank} | {'missing'} | {'not_queued', status}
local id = ARGV[1]
local t = tkey(id)
local f = redis.call('HMGET', t, 'st', 'src', 'tn', 'typ', 'ct')
if not f[1] then
  return {'missing'}
end
if f[1] ~= 'queued' then
  return {'not_queued', f[1]}
end
local score = redis.call('ZSCORE', K.queue, id)
if not score then
  return {'missing'}
end
local new = fmt(queue_score(ARGV[2], seq_of(t, score), f[5]))
local g = group_of(f[2] or '', f[4] or '', f[3] or '')
redis.call('ZADD', K.queue, 'XX', new, id)
redis.call('ZADD', gqueue(g), 'XX', new, id)
refresh_group(g)
redis.call('HSET', t, 'pri', ARGV[2])
redis.call('PUBLISH', K.events, 'priority ' .. id)
return {'ok', redis.call('ZRANK', K.queue, id)}
