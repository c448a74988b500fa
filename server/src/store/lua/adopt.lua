-- adopt: a task the store has queued that a worker runs or holds (Celery's `active` or
-- `reserved`) was dispatched by writes the store lost: a Redis primary that failed over before
-- its replica had them, or a Redis restarted from an older snapshot. The pool asks the workers
-- after every reconnect, before it dispatches again, and this script makes the store agree
-- with them: the task takes its slot (even past the limit: it runs; the pool drains back under
-- the limit) under the worker's Celery id, so that run's result ends it, as started by that
-- worker, so the reaper watches it. Never a second dispatch, so never a second run.
-- KEYS[1] the pool's prefix
-- ARGV[1] the task's id   ARGV[2] the Celery id the worker holds   ARGV[3] the worker's hostname
-- Returns 1 when adopted; 0 when it does not apply (not queued, or a Celery id the pool
-- replaced by another dispatch: a stale copy, which the pool revokes instead).
local id, cid, host = ARGV[1], ARGV[2], ARGV[3]
if redis.call('ZSCORE', K.superseded, cid) then
  return 0
end
local t = tkey(id)
local f = redis.call('HMGET', t, 'st', 'src', 'tn', 'typ', 'ct')
if f[1] ~= 'queued' then
  return 0
end
local now = now_ms()
local src, tn, typ = f[2] or '', f[3] or '', f[4] or ''
local seq = seq_of(t, redis.call('ZSCORE', K.queue, id))
dequeue(id, src, typ, tn)
-- No message to keep: it is with the worker already ('pub' 1: nothing to publish again).
take_slot(t, id, src, typ, tn, f[5] or now, seq, cid, '', '', '', false, now)
redis.call('HSET', t, 'pub', '1', 'ws', fmt(now), 'wk', host)
redis.call('SADD', K.started, id)
redis.call('PUBLISH', K.events, 'adopted')
return 1
