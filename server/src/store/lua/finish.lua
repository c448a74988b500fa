-- finish: a running task reached a terminal state on evidence (a result, a revoke, a lost
-- worker). Frees its slot. Fenced: nothing happens unless the evidence is about the current
-- dispatch, so a late or repeated completion never frees another dispatch's slot or ends a
-- task twice.
-- KEYS[1] running (ZSET)   KEYS[2] finished (ZSET)   KEYS[3] the task's hash   KEYS[4] events
-- KEYS[5] config   KEYS[6] queue
-- ARGV[1] id   ARGV[2] celery id of the evidence ('' = any)   ARGV[3] fencing token ('' = any)
-- ARGV[4] completed | failed | cancelled   ARGV[5] error text ('' = none)   ARGV[6] retention ms
-- ARGV[7] inline (1: also drop the message from kombu's unacked set)
-- Returns 0 when nothing changed, 1 when the task was ended, 2 when it was ended and queued
-- tasks wait for the slot it freed (a dispatch pass is due).
local t = KEYS[3]
if redis.call('HGET', t, 'st') ~= 'running' then
  return 0
end
if ARGV[2] ~= '' and redis.call('HGET', t, 'cid') ~= ARGV[2] then
  return 0
end
if ARGV[3] ~= '' and redis.call('HGET', t, 'tok') ~= ARGV[3] then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[7] == '1' then
  forget_unacked(delivery_tag(redis.call('HGET', t, 'msg')))
end
make_terminal(t, ARGV[1], ARGV[4], ARGV[5], KEYS[2], tonumber(ARGV[6]), now_ms())
redis.call('PUBLISH', KEYS[4], 'finish ' .. ARGV[1])
local max = tonumber(redis.call('HGET', KEYS[5], 'max_workers') or '1')
if redis.call('ZCARD', KEYS[6]) > 0 and redis.call('ZCARD', KEYS[1]) < max then
  return 2
end
return 1
