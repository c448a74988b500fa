-- orphan: takes back the slot of a running task that a worker reported started without
-- saying which worker it is (the pool learnt the start from a progress state: its STARTED
-- report was lost, to a Redis outage say), once no live worker has held it for long enough
-- (lost_note.lua, check after check). The reaper cannot judge such a task (it does not know
-- whose heartbeats to watch); this is the same evidence the lost-message check goes on. The
-- slot is freed as reap.lua frees one (reclaim in common.lua).
-- KEYS[1] the pool's prefix
-- ARGV[1] task id   ARGV[2] celery id of the dispatch judged   ARGV[3] 'fail' | 'requeue'
-- ARGV[4] retention ms   ARGV[5] inline (1: drop its message from kombu's unacked set)
-- ARGV[6] how long it must have looked lost (ms)   ARGV[7] how long superseded ids are kept (ms)
-- Returns {id, outcome, reason, delivery tag, celery id}, or {} when it does not apply (any more).
local id = ARGV[1]
local t = tkey(id)
local f = redis.call('HMGET', t, 'wk', 'ws', 'dt', 'cr', 'pri', 'seq', 'cid', 'ct', 'st', 'lsa')
if f[9] ~= 'running' or f[7] ~= ARGV[2] or f[1] or not f[2] or not f[10] then
  return {}
end
local now = now_ms()
local lost = now - tonumber(f[10])
if lost < tonumber(ARGV[6]) then
  return {}
end
local reason = 'Worker lost: a worker reported it started without saying which (its STARTED '
  .. 'report was lost), and for ' .. math.floor(lost / 1000) .. ' s no live worker held it.'
local outcome, tag = reclaim(t, id, f, reason, 'unknown_worker', ARGV[3], tonumber(ARGV[4]),
  ARGV[5] == '1', tonumber(ARGV[7]), now)
redis.call('PUBLISH', K.events, 'reap')
return {id, outcome, reason, tag, f[7] or ''}
