-- expire: ends the queued tasks that waited past the latest start their type allows
-- (max_queue_wait): cancelled, with the reason, never having run. Only the tasks whose
-- deadline has passed are read (K.deadlines is scored by deadline); an entry whose task
-- started meanwhile is just dropped.
-- KEYS[1] the pool's prefix
-- ARGV[1] retention ms   ARGV[2] at most this many per call
-- Returns the ids of the tasks it ended.
local now = now_ms()
local out = {}
local due = redis.call('ZRANGEBYSCORE', K.deadlines, '-inf', fmt(now), 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
  redis.call('ZREM', K.deadlines, id)
  local t = tkey(id)
  local f = redis.call('HMGET', t, 'st', 'src', 'typ', 'tn', 'ct')
  if f[1] == 'queued' then
    dequeue(id, f[2] or '', f[3] or '', f[4] or '')
    local waited = math.floor((now - tonumber(f[5] or now)) / 1000)
    make_terminal(t, id, 'cancelled', 'Waited ' .. waited .. ' s without starting: longer than '
      .. 'its type allows (max_queue_wait). It never ran.', tonumber(ARGV[1]), now)
    redis.call('PUBLISH', K.events, 'cancel ' .. id)
    table.insert(out, id)
  end
end
return out
