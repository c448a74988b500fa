-- finish: a running task reached a terminal state on evidence (a result, a revoke, a lost
-- worker). Frees its slot. Fenced: nothing happens unless the evidence is about the current
-- dispatch, so a late or repeated completion never frees another dispatch's slot or ends a
-- task twice.
-- KEYS[1] running (ZSET)   KEYS[2] finished (ZSET)   KEYS[3] the task's hash   KEYS[4] events
-- ARGV[1] id   ARGV[2] celery id of the evidence ('' = any)   ARGV[3] fencing token ('' = any)
-- ARGV[4] completed | failed | cancelled   ARGV[5] error text ('' = none)   ARGV[6] retention ms
-- ARGV[7] inline (1: also drop the message from kombu's unacked set)
-- Returns 1 when the task was ended, 0 otherwise.
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
return 1
