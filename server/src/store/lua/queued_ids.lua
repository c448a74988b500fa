-- queued_ids: one page of the queue, in the order of its index, with each task's dispatch
-- count: the Celery id a task's next dispatch takes follows from it (the task's id when
-- 0, `<id>~<n>` after n), so the pool can ask the result backend whether a dispatch the
-- store lost has already run (see Scheduler::reconcile_with_workers).
-- KEYS[1] the pool's prefix
-- ARGV[1] the first rank   ARGV[2] the most entries
-- Returns {id, dispatches so far, ...}.
local from, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
for _, id in ipairs(redis.call('ZRANGE', K.queue, from, from + n - 1)) do
  table.insert(out, id)
  table.insert(out, redis.call('HGET', tkey(id), 'att') or '0')
end
return out
