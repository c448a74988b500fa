-- submit: accepts a new task and, when it may start at once (a slot is free, the pool is not
-- paused, and it is the next task that may start: nothing eligible waits ahead of it and no
-- rule of its source or tenant holds it), dispatches it in the same atomic step; otherwise it
-- joins the queue. Deduplication and the link of a retry happen in the same step, so racing
-- submits on any number of replicas never leave two tasks where one was asked for.
-- KEYS[1] the pool's prefix
-- ARGV[1] id  ARGV[2] crm_source  ARGV[3] sync_type  ARGV[4] task_name
-- ARGV[5] parameters (encoded)  ARGV[6] priority (-100..100)
-- ARGV[7] celery id   ARGV[8] message   ARGV[9] broker list  (empty message: never dispatch here)
-- ARGV[10] inline (1: push the message here; 0: the caller publishes, then confirms)
-- ARGV[11] the message's delivery tag   ARGV[12] tenant ('' = none)
-- ARGV[13] dedupe: '' (none) | 'queued' | 'active' | 'replace'
-- ARGV[14] the id of the failed or cancelled task this one retries ('' = none)
-- ARGV[15] how long it may wait to start (ms), its type's max_queue_wait ('' = no bound)
-- Returns {0} when a task with that id already exists (nothing changed);
-- {2, existing id, replaced (0/1)} when deduplication found a task of the same source, type
-- and tenant (with 'replace' its parameters and priority were replaced);
-- {3, reason, detail} when the task to retry cannot be retried (nothing changed):
--   'missing' | 'not_ended' (detail: its status) | 'retried' (detail: the retry's id);
-- else {1, created_ms, 'running', token, free slots left} or
-- {1, created_ms, 'queued', 0-based rank, free slots (more than 0 only while tasks ahead of
-- it may be dispatched: the caller runs a dispatch pass), why it waits (blocked_by)}.
local id, src, typ, tn = ARGV[1], ARGV[2], ARGV[3], ARGV[12]
local t = tkey(id)
if redis.call('EXISTS', t) == 1 then
  return {0}
end
local retry_of = ARGV[14]
if retry_of ~= '' then
  local r = redis.call('HMGET', tkey(retry_of), 'st', 'rby')
  if not r[1] then
    return {3, 'missing', ''}
  end
  if r[1] ~= 'failed' and r[1] ~= 'cancelled' then
    return {3, 'not_ended', r[1]}
  end
  if r[2] then
    return {3, 'retried', r[2]}
  end
end
local g = group_of(src, typ, tn)
local mode = ARGV[13]
if mode ~= '' then
  local first = redis.call('ZRANGE', gqueue(g), 0, 0)[1]
  if first then
    if mode ~= 'replace' then
      return {2, first, 0}
    end
    local ft = tkey(first)
    local score = redis.call('ZSCORE', K.queue, first)
    local new = fmt(queue_score(ARGV[6], seq_of(ft, score), redis.call('HGET', ft, 'ct')))
    redis.call('HSET', ft, 'par', ARGV[5], 'pri', ARGV[6])
    redis.call('ZADD', K.queue, 'XX', new, first)
    redis.call('ZADD', gqueue(g), 'XX', new, first)
    refresh_group(g)
    redis.call('PUBLISH', K.events, 'replace ' .. first)
    return {2, first, 1}
  end
  if mode == 'active' then
    -- A running task of the same key: only the source's running tasks are looked at.
    for _, rid in ipairs(redis.call('SMEMBERS', run_src(src))) do
      local h = redis.call('HMGET', tkey(rid), 'typ', 'tn')
      if h[1] == typ and (h[2] or '') == tn then
        return {2, rid, 0}
      end
    end
  end
end
local now = now_ms()
local seq = redis.call('INCR', K.seq)
redis.call('HINCRBY', K.metrics, metric_field('sub', src, typ), 1)
local fields = {'src', src, 'typ', typ, 'par', ARGV[5], 'pri', ARGV[6], 'ct', fmt(now)}
-- The Celery task name is stored only when it is not <crm_source>.<sync_type>.
if ARGV[4] ~= src .. '.' .. typ then
  table.insert(fields, 'name')
  table.insert(fields, ARGV[4])
end
if tn ~= '' then
  table.insert(fields, 'tn')
  table.insert(fields, tn)
end
if retry_of ~= '' then
  table.insert(fields, 'rof')
  table.insert(fields, retry_of)
  redis.call('HSET', tkey(retry_of), 'rby', id)
end
if ARGV[15] ~= '' then
  redis.call('ZADD', K.deadlines, fmt(now + tonumber(ARGV[15])), id)
end
local free = max_workers() - redis.call('ZCARD', K.running)
local may = ARGV[8] ~= '' and free > 0 and not pool_paused()
if may and redis.call('ZCARD', K.queue) == 0 and not blocked(src, tn, now, nil) then
  -- The common case: nothing waits at all, and nothing holds it.
  local tok = take_slot(t, id, src, typ, tn, now, seq, ARGV[7], ARGV[8], ARGV[9], ARGV[11],
    ARGV[10] == '1', now, fields)
  redis.call('PUBLISH', K.events, 'submit ' .. id)
  return {1, fmt(now), 'running', fmt(tok), free - 1}
end
table.insert(fields, 'st')
table.insert(fields, 'queued')
if aging_ms() > 0 then
  table.insert(fields, 'seq')
  table.insert(fields, fmt(seq))
end
redis.call('HSET', t, unpack(fields))
enqueue(id, src, typ, tn, queue_score(ARGV[6], seq, now))
if may and next_ready(now) == id then
  dequeue(id, src, typ, tn)
  -- (An empty field list: this is its first dispatch, attempt 1.)
  local tok = take_slot(t, id, src, typ, tn, now, seq, ARGV[7], ARGV[8], ARGV[9], ARGV[11],
    ARGV[10] == '1', now, {})
  redis.call('PUBLISH', K.events, 'submit ' .. id)
  return {1, fmt(now), 'running', fmt(tok), free - 1}
end
redis.call('PUBLISH', K.events, 'submit ' .. id)
return {1, fmt(now), 'queued', redis.call('ZRANK', K.queue, id), math.max(free, 0),
  blocked_by(src, typ, tn, now)}
