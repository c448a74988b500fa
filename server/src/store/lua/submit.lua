-- submit: accepts a new task and, when a slot is free and the queue is empty, dispatches it
-- in the same atomic step (one round trip, ten commands, for the common case); otherwise it
-- joins the queue.
-- KEYS[1] queue (ZSET)   KEYS[2] seq counter   KEYS[3] the task's hash   KEYS[4] events channel
-- KEYS[5] config   KEYS[6] running (ZSET)   KEYS[7] token counter
-- ARGV[1] id  ARGV[2] crm_source  ARGV[3] sync_type  ARGV[4] task_name
-- ARGV[5] parameters (encoded)  ARGV[6] priority (-100..100)
-- ARGV[7] celery id   ARGV[8] message   ARGV[9] broker list  (empty message: never dispatch here)
-- ARGV[10] inline (1: push the message here; 0: the caller publishes, then confirms)
-- ARGV[11] the message's delivery tag
-- Returns {0} when a task with that id already exists (nothing changed), else
-- {1, created_ms, 'running', token, free slots left} or
-- {1, created_ms, 'queued', 0-based rank, free slots (more than 0 only while tasks ahead of
-- it are about to be dispatched: the caller runs a dispatch pass)}.
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {0}
end
local now = now_ms()
local seq = redis.call('INCR', KEYS[2])
local fields = {'src', ARGV[2], 'typ', ARGV[3], 'par', ARGV[5], 'pri', ARGV[6], 'ct', fmt(now)}
-- The Celery task name is stored only when it is not <crm_source>.<sync_type>.
if ARGV[4] ~= ARGV[2] .. '.' .. ARGV[3] then
  table.insert(fields, 'name')
  table.insert(fields, ARGV[4])
end
local max = tonumber(redis.call('HGET', KEYS[5], 'max_workers') or '1')
local free = max - redis.call('ZCARD', KEYS[6])
if ARGV[8] ~= '' and free > 0 and redis.call('ZCARD', KEYS[1]) == 0 then
  local tok = take_slot(KEYS[3], ARGV[1], seq, ARGV[7], ARGV[8], ARGV[9], ARGV[11],
    ARGV[10] == '1', KEYS[6], KEYS[7], now, fields)
  redis.call('PUBLISH', KEYS[4], 'submit ' .. ARGV[1])
  return {1, fmt(now), 'running', fmt(tok), free - 1}
end
table.insert(fields, 'st')
table.insert(fields, 'queued')
redis.call('HSET', KEYS[3], unpack(fields))
redis.call('ZADD', KEYS[1], fmt(queue_score(ARGV[6], seq)), ARGV[1])
redis.call('PUBLISH', KEYS[4], 'submit ' .. ARGV[1])
return {1, fmt(now), 'queued', redis.call('ZRANK', KEYS[1], ARGV[1]), math.max(free, 0)}
