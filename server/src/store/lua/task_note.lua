-- task_note: adds to a task's journal what a Celery result says beyond its state, fenced by
-- the Celery id of the task's current dispatch (a stale dispatch's report adds nothing).
-- KEYS[1] the pool's prefix
-- ARGV[1] id   ARGV[2] celery id
-- ARGV[3] 'retry' (Celery will run it again; ARGV[4] why) or 'traceback' (it failed; ARGV[4]
--         Celery's traceback, already bounded by the caller)
-- Returns 1 when written, 0 when it does not apply (another dispatch, not running or not
-- failed, a retry already noted: the same RETRY read again before the task ran again).
local t = tkey(ARGV[1])
local f = redis.call('HMGET', t, 'st', 'cid', 'rn')
if f[2] ~= ARGV[2] then
  return 0
end
if ARGV[3] == 'retry' then
  -- 'rn': the dispatch whose retry was noted last; started.lua clears it when the task runs
  -- again, so the next RETRY is a new one.
  if f[1] ~= 'running' or f[3] == ARGV[2] then
    return 0
  end
  redis.call('HSET', t, 'rn', ARGV[2])
  note(t, 'r', ARGV[4], now_ms())
  return 1
elseif ARGV[3] == 'traceback' then
  if f[1] ~= 'failed' then
    return 0
  end
  local ttl = redis.call('PTTL', t)
  if ttl > 0 then
    redis.call('SET', tb_key(t), ARGV[4], 'PX', ttl)
  else
    redis.call('SET', tb_key(t), ARGV[4])
  end
  return 1
end
return redis.error_reply('task_note: the kind is retry or traceback')
