-- reap: frees the slots of running tasks whose Celery worker is gone, on evidence: the worker
-- said it went offline after the task started, or it restarted (came online again) after the
-- task started, or it has sent no heartbeat for longer than the timeout. A task no worker has
-- reported STARTED for is never reaped (it waits for a worker), nor is a task whose worker is
-- unknown here (never heard from: its heartbeats cannot be judged). Being long is never a
-- reason.
-- KEYS[1] running   KEYS[2] queue   KEYS[3] finished   KEYS[4] task prefix
-- KEYS[5] heartbeats (HASH)   KEYS[6] online (HASH)   KEYS[7] offline (HASH)   KEYS[8] events
-- ARGV[1] heartbeat timeout ms   ARGV[2] 'fail' | 'requeue'   ARGV[3] retention ms
-- ARGV[4] restart guard ms (an online this long after STARTED means a restart)
-- ARGV[5] inline (1: also drop the message from kombu's unacked set in this database)
-- Returns {{id, outcome, reason, delivery tag}, ...}; outcome is failed | requeued | cancelled.
local now = now_ms()
local timeout, guard = tonumber(ARGV[1]), tonumber(ARGV[4])
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local t = KEYS[4] .. id
  local f = redis.call('HMGET', t, 'wk', 'ws', 'dt', 'cr', 'pri', 'seq')
  local worker, ws = f[1], tonumber(f[2])
  if worker and ws then
    local seen = tonumber(redis.call('HGET', KEYS[5], worker))
    local online = tonumber(redis.call('HGET', KEYS[6], worker))
    local offline = tonumber(redis.call('HGET', KEYS[7], worker))
    local reason = nil
    if offline and offline >= ws and (not seen or offline >= seen) then
      reason = 'Worker lost: ' .. worker .. ' went offline while running it.'
    elseif online and online > ws + guard then
      reason = 'Worker lost: ' .. worker .. ' restarted while running it.'
    elseif seen and now - seen > timeout then
      reason = 'Worker lost: no heartbeat from ' .. worker .. ' for ' .. math.floor((now - seen) / 1000) .. ' s.'
    end
    if reason then
      local tag = f[3] or ''
      if ARGV[5] == '1' then
        -- An acks_late message would otherwise come back after the visibility timeout and run
        -- again outside the pool's count.
        forget_unacked(tag)
      end
      redis.call('ZREM', KEYS[1], id)
      local outcome
      if f[4] then
        outcome = 'cancelled'
        make_terminal(t, id, 'cancelled', reason, KEYS[3], tonumber(ARGV[3]), now)
      elseif ARGV[2] == 'requeue' then
        outcome = 'requeued'
        redis.call('HDEL', t, 'sa', 'tok', 'cid', 'bl', 'dt', 'pub', 'wk', 'ws', 'wpid')
        redis.call('DEL', msg_key(t))
        redis.call('HSET', t, 'st', 'queued')
        redis.call('ZADD', KEYS[2], fmt(queue_score(f[5], f[6])), id)
      else
        outcome = 'failed'
        make_terminal(t, id, 'failed', reason, KEYS[3], tonumber(ARGV[3]), now)
      end
      table.insert(out, {id, outcome, reason, tag})
    end
  end
end
if #out > 0 then
  redis.call('PUBLISH', KEYS[8], 'reap')
end
return out
