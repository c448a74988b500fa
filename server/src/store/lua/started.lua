-- started: records a worker's STARTED report for the current dispatch. No slot changes.
-- KEYS[1] the task's hash   KEYS[2] events channel
-- ARGV[1] celery id   ARGV[2] worker hostname (may be empty)   ARGV[3] worker pid (may be empty)
-- ARGV[4] inline (1: drop the message from kombu's unacked set: the task started, and an ack
--         lost to a Redis outage must not make kombu run it again)
-- Returns 1 when recorded, 0 when it does not apply (stale dispatch, not running, already known).
local t = KEYS[1]
if redis.call('HGET', t, 'st') ~= 'running' or redis.call('HGET', t, 'cid') ~= ARGV[1] then
  return 0
end
if redis.call('HEXISTS', t, 'ws') == 1 then
  return 0
end
redis.call('HSET', t, 'ws', fmt(now_ms()))
if ARGV[4] == '1' then
  forget_unacked(redis.call('HGET', t, 'dt'))
end
if ARGV[2] ~= '' then
  redis.call('HSET', t, 'wk', ARGV[2])
end
if ARGV[3] ~= '' then
  redis.call('HSET', t, 'wpid', ARGV[3])
end
redis.call('PUBLISH', KEYS[2], 'started')
return 1
