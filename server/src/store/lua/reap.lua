-- reap: frees the slots of running tasks whose Celery worker is gone, on evidence: the worker
-- said it went offline with nothing left to run (`active` 0; a warm shutdown reports the tasks
-- it still finishes, see below) after the task started, and nothing came from it for the
-- offline grace since (a consumer reconnect sends an offline/online pair from the same process; an online
-- or a heartbeat after the offline clears it), or another process (a new pid) took over its
-- hostname after the task started, or it has sent no heartbeat for longer than the timeout.
-- A reconnect keeps the pid, so it is never taken for a restart. A task no worker has
-- reported STARTED for is never reaped (it waits for a worker), nor is a task whose worker is
-- unknown here (never heard from: its heartbeats cannot be judged). Being long is never a
-- reason.
-- KEYS[1] the pool's prefix (it reads K.seen, K.proc and K.offline: see worker_event.lua)
-- ARGV[1] heartbeat timeout ms   ARGV[2] 'fail' | 'requeue'   ARGV[3] retention ms
-- ARGV[4] restart guard ms (a new process whose `since` is this long after STARTED cannot have
--         started the task)   ARGV[6] offline grace ms
-- ARGV[5] inline (1: also drop the message from kombu's unacked set in this database)
-- ARGV[7] how long superseded Celery ids are remembered (ms): a requeued task's old id joins
--         them, so a STARTED from it is revoked
-- Returns {{id, outcome, reason, delivery tag, celery id}, ...}; outcome is failed | requeued | cancelled.
local now = now_ms()
local timeout, guard, grace_off = tonumber(ARGV[1]), tonumber(ARGV[4]), tonumber(ARGV[6])
local out = {}
for _, id in ipairs(redis.call('ZRANGE', K.running, 0, -1)) do
  local t = tkey(id)
  local f = redis.call('HMGET', t, 'wk', 'ws', 'dt', 'cr', 'pri', 'seq', 'cid', 'ct')
  local worker, ws = f[1], tonumber(f[2])
  if worker and ws then
    local seen = tonumber(redis.call('HGET', K.seen, worker))
    local proc = redis.call('HGET', K.proc, worker)
    local since = proc and tonumber(string.match(proc, ':(%-?%d+)$'))
    local restarted = since and since > ws + guard
    local off = redis.call('HGET', K.offline, worker)
    local offline = off and tonumber(string.match(off, '^(%d+)'))
    local draining = off and tonumber(string.match(off, ':(%d+)$')) or 0
    local quiet = offline and offline >= ws and (not seen or offline > seen)
    local reason, kind = nil, nil
    if quiet and draining > 0 then
      -- A warm shutdown: the worker stopped consuming and sends no more heartbeats, but its
      -- pool finishes what it runs, and those results will come. Only a restart, or a cancel
      -- (whose revoke a shutting-down worker no longer hears) left unanswered past the
      -- timeout, takes the slot back.
      if restarted then
        reason, kind = 'Worker lost: ' .. worker .. ' restarted while running it.', 'restarted'
      elseif f[4] and now - offline > timeout then
        reason = 'Worker lost: ' .. worker .. ' shut down while running it and never answered the cancel.'
        kind = 'cancel_unanswered'
      end
    elseif quiet and now - offline >= grace_off then
      reason, kind = 'Worker lost: ' .. worker .. ' went offline while running it.', 'offline'
    elseif restarted then
      reason, kind = 'Worker lost: ' .. worker .. ' restarted while running it.', 'restarted'
    elseif seen and now - seen > timeout then
      reason = 'Worker lost: no heartbeat from ' .. worker .. ' for ' .. math.floor((now - seen) / 1000) .. ' s.'
      kind = 'no_heartbeat'
    end
    if reason then
      local outcome, tag = reclaim(t, id, f, reason, kind, ARGV[2], tonumber(ARGV[3]),
        ARGV[5] == '1', tonumber(ARGV[7]), now)
      table.insert(out, {id, outcome, reason, tag, f[7] or ''})
    end
  end
end
if #out > 0 then
  redis.call('PUBLISH', K.events, 'reap')
end
return out
