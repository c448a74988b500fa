-- started: records a worker's STARTED report for the current dispatch. No slot changes. The
-- task joins K.started (the running tasks a worker reported started; release_slot removes it).
-- KEYS[1] the pool's prefix
-- ARGV[1] celery id   ARGV[2] worker hostname (may be empty)   ARGV[3] worker pid (may be empty)
-- ARGV[4] inline (1: drop the message from kombu's unacked set: the task started, and an ack
--         lost to a Redis outage must not make kombu run it again)   ARGV[5] the task's id
-- Returns 1 when recorded, 0 when it does not apply (not running, already known, unknown
-- dispatch), -1 when the Celery id is one the pool replaced by another dispatch of the task
-- (a stale copy of a re-sent or requeued message is running somewhere: revoke it), -2 when it
-- is a STARTED of the dispatch of a task that already ended (its message was delivered again,
-- by a broker that lost the worker's acknowledgement in a crash: a second run, outside any slot).
local t = tkey(ARGV[5])
local f = redis.call('HMGET', t, 'st', 'cid', 'ws', 'dt', 'mx', 'wk')
if f[2] ~= ARGV[1] then
  if redis.call('ZSCORE', K.superseded, ARGV[1]) then
    return -1
  end
  return 0
end
if f[1] ~= 'running' then
  -- Only a STARTED (it names its worker) tells of a new run: a progress state of the first run
  -- can arrive after its end (a result write Celery retried through a Redis outage).
  if ARGV[2] ~= '' and (f[1] == 'completed' or f[1] == 'failed' or f[1] == 'cancelled') then
    return -2
  end
  return 0
end
if f[3] then
  -- A run after a Celery retry (or a report read twice): the next RETRY is a new one.
  redis.call('HDEL', t, 'rn')
  -- Started already (from a progress state, which does not say where): a STARTED that says
  -- which worker runs it lets the reaper watch that worker.
  if not f[6] and ARGV[2] ~= '' then
    redis.call('HSET', t, 'wk', ARGV[2])
    if ARGV[3] ~= '' then
      redis.call('HSET', t, 'wpid', ARGV[3])
    end
  end
  return 0
end
-- An over-admission, as the workers see it: they already ran as many of the pool's tasks as
-- the limit in force when this one was dispatched. Must stay 0 (a metric to alert on).
if f[5] and redis.call('SCARD', K.started) >= tonumber(f[5]) then
  redis.call('HINCRBY', K.stats, 'over_admissions', 1)
end
redis.call('SADD', K.started, ARGV[5])
redis.call('HSET', t, 'ws', fmt(now_ms()))
redis.call('HDEL', t, 'lsa', 'rn')
if ARGV[4] == '1' then
  forget_unacked(f[4])
end
if ARGV[2] ~= '' then
  redis.call('HSET', t, 'wk', ARGV[2])
end
if ARGV[3] ~= '' then
  redis.call('HSET', t, 'wpid', ARGV[3])
end
redis.call('PUBLISH', K.events, 'started')
return 1
