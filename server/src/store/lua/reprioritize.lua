-- reprioritize: changes a queued task's priority; it keeps its arrival order among equals.
-- KEYS[1] queue   KEYS[2] the task's hash   KEYS[3] events
-- ARGV[1] id   ARGV[2] new priority (-100..100)
-- Returns {'ok', 0-based rank} | {'missing'} | {'not_queued', status}
local t = KEYS[2]
local st = redis.call('HGET', t, 'st')
if not st then
  return {'missing'}
end
if st ~= 'queued' then
  return {'not_queued', st}
end
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then
  return {'missing'}
end
redis.call('ZADD', KEYS[1], 'XX', fmt(queue_score(ARGV[2], seq_of_score(score))), ARGV[1])
redis.call('HSET', t, 'pri', ARGV[2])
redis.call('PUBLISH', KEYS[3], 'priority ' .. ARGV[1])
return {'ok', redis.call('ZRANK', KEYS[1], ARGV[1])}
