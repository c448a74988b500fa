-- lost_note: records one check of a running task's message that no worker has reported
-- STARTED for, or that a worker reported started without saying which worker it is. "Looks lost" means the checker found it in neither the broker list nor kombu's
-- unacked set, no result for it, and no live worker holding it (Celery's query_task, answered
-- by every live worker). One such check proves nothing (a message can be in flight inside a
-- worker between two of those places); resend.lua acts only once it has looked lost, check
-- after check, for a while. A check that finds the message anywhere clears the note.
-- KEYS[1] the pool's prefix
-- ARGV[1] celery id of the dispatch checked   ARGV[2] '1': it looked lost; '0': it did not
-- ARGV[3] the task's id
-- Returns how long (ms, by the Redis clock) it has looked lost: 0 at the first check that
-- saw it; -1 when it does not (any more), or when the check no longer applies (another
-- dispatch, started, ended).
local t = tkey(ARGV[3])
local f = redis.call('HMGET', t, 'st', 'cid', 'ws', 'lsa', 'wk')
-- (A task started by a worker that did not say which one is judged the same way: orphan.lua.)
if f[1] ~= 'running' or f[2] ~= ARGV[1] or (f[3] and f[5]) then
  return -1
end
if ARGV[2] ~= '1' then
  if f[4] then
    redis.call('HDEL', t, 'lsa')
  end
  return -1
end
local now = now_ms()
if not f[4] then
  redis.call('HSET', t, 'lsa', fmt(now))
  return 0
end
return now - tonumber(f[4])
