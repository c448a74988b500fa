-- cancel: a queued task is removed and ended at once; a running one is withdrawn from the
-- broker list if no worker took it yet (inline mode), else marked for revoke.
-- KEYS[1] the pool's prefix
-- ARGV[1] id   ARGV[2] retention ms   ARGV[3] inline (1/0)
-- Returns {'missing'} | {'terminal', status} | {'cancelled'}
--       | {'revoke', celery id, token, message, broker list}  (the caller revokes / withdraws)
local id = ARGV[1]
local t = tkey(id)
local f = redis.call('HMGET', t, 'st', 'src', 'tn', 'typ')
local st = f[1]
if not st then
  return {'missing'}
end
local now = now_ms()
if st == 'queued' then
  dequeue(id, f[2] or '', f[4] or '', f[3] or '')
  make_terminal(t, id, 'cancelled', 'Cancelled while queued.', tonumber(ARGV[2]), now)
  redis.call('PUBLISH', K.events, 'cancel ' .. id)
  return {'cancelled'}
end
if st ~= 'running' then
  return {'terminal', st}
end
local r = redis.call('HMGET', t, 'cid', 'tok', 'bl')
local msg, list = redis.call('GET', msg_key(t)), r[3]
if ARGV[3] == '1' and msg and list and redis.call('LREM', list, 1, msg) == 1 then
  release_slot(id, t)
  make_terminal(t, id, 'cancelled', 'Cancelled before a worker took it.', tonumber(ARGV[2]), now)
  redis.call('PUBLISH', K.events, 'cancel ' .. id)
  return {'cancelled'}
end
if redis.call('HEXISTS', t, 'cr') == 0 then
  redis.call('HSET', t, 'cr', fmt(now))
  redis.call('PUBLISH', K.events, 'cancel-requested ' .. id)
end
return {'revoke', r[1] or '', r[2] or '', msg or '', list or ''}
