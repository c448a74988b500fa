-- submit: accepts a new task and, when it may start at once (a slot is free, the pool is not
-- paused, and it is the next task that may start: nothing eligible waits ahead of it and no
-- rule of its source or tenant holds it), dispatches it in the same atomic step; otherwise it
-- joins the queue.
-- KEYS[1] the pool's prefix
-- ARGV[1] id  ARGV[2] crm_source  ARGV[3] sync_type  ARGV[4] task_name
-- ARGV[5] parameters (encoded)  ARGV[6] priority (-100..100)
-- ARGV[7] celery id   ARGV[8] message   ARGV[9] broker list  (empty message: never dispatch here)
-- ARGV[10] inline (1: push the message here; 0: the caller publishes, then confirms)
-- ARGV[11] the message's delivery tag   ARGV[12] tenant ('' = none)
-- Returns {0} when a task with that id already exists (nothing changed), else
-- {1, created_ms, 'running', token, free slots left} or
-- {1, created_ms, 'queued', 0-based rank, free slots (more than 0 only while tasks ahead of
-- it may be dispatched: the caller runs a dispatch pass)}.
local id, src, tn = ARGV[1], ARGV[2], ARGV[12]
local t = tkey(id)
if redis.call('EXISTS', t) == 1 then
  return {0}
end
local now = now_ms()
local seq = redis.call('INCR', K.seq)
local fields = {'src', src, 'typ', ARGV[3], 'par', ARGV[5], 'pri', ARGV[6], 'ct', fmt(now)}
-- The Celery task name is stored only when it is not <crm_source>.<sync_type>.
if ARGV[4] ~= src .. '.' .. ARGV[3] then
  table.insert(fields, 'name')
  table.insert(fields, ARGV[4])
end
if tn ~= '' then
  table.insert(fields, 'tn')
  table.insert(fields, tn)
end
local free = max_workers() - redis.call('ZCARD', K.running)
local score = queue_score(ARGV[6], seq)
local g = group_of(src, tn)
local may = ARGV[8] ~= '' and free > 0 and not pool_paused()
if may and redis.call('ZCARD', K.queue) == 0 and not blocked(src, g, tn, now, nil) then
  -- The common case: nothing waits at all, and nothing holds it.
  local tok = take_slot(t, id, src, tn, seq, ARGV[7], ARGV[8], ARGV[9], ARGV[11],
    ARGV[10] == '1', now, fields)
  redis.call('PUBLISH', K.events, 'submit ' .. id)
  return {1, fmt(now), 'running', fmt(tok), free - 1}
end
table.insert(fields, 'st')
table.insert(fields, 'queued')
redis.call('HSET', t, unpack(fields))
enqueue(id, src, tn, score)
if may and next_ready(now) == id then
  dequeue(id, src, tn)
  -- (An empty field list: this is its first dispatch, attempt 1.)
  local tok = take_slot(t, id, src, tn, seq, ARGV[7], ARGV[8], ARGV[9], ARGV[11],
    ARGV[10] == '1', now, {})
  redis.call('PUBLISH', K.events, 'submit ' .. id)
  return {1, fmt(now), 'running', fmt(tok), free - 1}
end
redis.call('PUBLISH', K.events, 'submit ' .. id)
return {1, fmt(now), 'queued', redis.call('ZRANK', K.queue, id), math.max(free, 0)}
