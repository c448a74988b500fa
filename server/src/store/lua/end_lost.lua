-- end_lost: a running task whose worker, asked after a reconnect, neither runs nor holds it
-- (Celery's active, reserved and scheduled answers) while no result is left for it: it ended,
-- and the writes of its end were lost with Redis (a primary that failed over before its
-- replica had them, a Redis restarted from an older snapshot). Nothing else would ever free
-- its slot: its worker is alive. It ends failed, saying so, and never goes back to the queue
-- (it ran, perhaps to success: running it again is for a person to decide). The slot is
-- freed as reap.lua frees one (reclaim in common.lua).
-- KEYS[1] the pool's prefix
-- ARGV[1] task id   ARGV[2] celery id of the dispatch judged   ARGV[3] the worker asked
-- ARGV[4] retention ms   ARGV[5] inline (1: drop its message from kombu's unacked set)
-- Returns {id, outcome, reason, delivery tag}, or {} when it does not apply (any more).
local id = ARGV[1]
local t = tkey(id)
local f = redis.call('HMGET', t, 'wk', 'ws', 'dt', 'cr', 'pri', 'seq', 'cid', 'ct', 'st')
if f[9] ~= 'running' or f[7] ~= ARGV[2] or f[1] ~= ARGV[3] or not f[2] then
  return {}
end
local now = now_ms()
local reason = 'Its end was lost with Redis (a failover or restart lost the last writes): it '
  .. 'ran on ' .. ARGV[3] .. ', which no longer holds it, and no result is left. It may have '
  .. 'succeeded: check before retrying it.'
local outcome, tag = reclaim(t, id, f, reason, 'end_lost', 'fail', tonumber(ARGV[4]),
  ARGV[5] == '1', 0, now)
redis.call('PUBLISH', K.events, 'reap')
return {id, outcome, reason, tag}
