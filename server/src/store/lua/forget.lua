-- forget: an operator says a worker is gone for good (a draining worker that was killed, a
-- host that will not come back): the slots of the pool's tasks it ran are released, each task
-- ends failed with an error that says so, and the worker leaves the roster. This closes the
-- one case the lost-worker rules cannot judge alone (a warm shutdown whose results never
-- come). Refused for a worker that is online by its heartbeats: it still runs its tasks.
-- KEYS[1] the pool's prefix
-- ARGV[1] hostname   ARGV[2] heartbeat timeout ms   ARGV[3] retention ms
-- ARGV[4] inline (1: also drop the messages from kombu's unacked set in this database)
-- Returns {'unknown'} when never heard of; {'online', last heard ms} when refused;
-- {'forgotten', {{id, delivery tag, celery id}, ...}} (the tasks it ended).
local host = ARGV[1]
local now = now_ms()
local state = worker_state(host, now, tonumber(ARGV[2]))
if not state and redis.call('HEXISTS', K.proc, host) == 0 then
  return {'unknown'}
end
if state == 'online' then
  return {'online', redis.call('HGET', K.seen, host)}
end
local out = {}
for _, id in ipairs(redis.call('ZRANGE', K.running, 0, -1)) do
  local t = tkey(id)
  local f = redis.call('HMGET', t, 'wk', 'dt', 'src', 'tn', 'typ', 'cid')
  if f[1] == host then
    if ARGV[4] == '1' then
      forget_unacked(f[2])
    end
    release_slot(id, t, f[3] or '', f[4] or '')
    make_terminal(t, id, 'failed', 'Worker lost: ' .. host .. ' was forgotten by an operator'
      .. ' (gone for good); the task may not have finished.', tonumber(ARGV[3]), now,
      f[3] or '', f[5] or '')
    redis.call('HINCRBY', K.stats, 'reclaimed:forgotten', 1)
    table.insert(out, {id, f[2] or '', f[6] or ''})
  end
end
redis.call('HDEL', K.seen, host)
redis.call('HDEL', K.offline, host)
redis.call('HDEL', K.proc, host)
redis.call('HDEL', K.first, host)
redis.call('PUBLISH', K.events, 'forget')
return {'forgotten', out}
