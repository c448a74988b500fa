-- submit: accepts a new task into the queue.
-- KEYS[1] queue (ZSET)   KEYS[2] seq counter   KEYS[3] the task's hash   KEYS[4] events channel
-- ARGV[1] id  ARGV[2] crm_source  ARGV[3] sync_type  ARGV[4] task_name  ARGV[5] parameters (JSON)
-- ARGV[6] priority (-100..100)
-- Returns {1, seq, created_ms} or {0} when a task with that id already exists (nothing changed).
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {0}
end
local now = now_ms()
local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[3],
  'src', ARGV[2], 'typ', ARGV[3], 'name', ARGV[4], 'par', ARGV[5], 'pri', ARGV[6],
  'st', 'queued', 'seq', fmt(seq), 'ct', fmt(now))
redis.call('ZADD', KEYS[1], fmt(queue_score(ARGV[6], seq)), ARGV[1])
redis.call('PUBLISH', KEYS[4], 'submit ' .. ARGV[1])
return {1, seq, fmt(now)}
