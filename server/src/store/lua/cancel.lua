-- cancel: a queued task is removed and ended at once; a running one is withdrawn from the
-- broker list if no worker took it yet (inline mode), else marked for revoke.
-- KEYS[1] queue   KEYS[2] running   KEYS[3] finished   KEYS[4] the task's hash   KEYS[5] events
-- ARGV[1] id   ARGV[2] retention ms   ARGV[3] inline (1/0)
-- Returns {'missing'} | {'terminal', status} | {'cancelled'}
--       | {'revoke', celery id, token, message, broker list}  (the caller revokes / withdraws)
local t = KEYS[4]
local st = redis.call('HGET', t, 'st')
if not st then
  return {'missing'}
end
local now = now_ms()
if st == 'queued' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  make_terminal(t, ARGV[1], 'cancelled', 'Cancelled while queued.', KEYS[3], tonumber(ARGV[2]), now)
  redis.call('PUBLISH', KEYS[5], 'cancel ' .. ARGV[1])
  return {'cancelled'}
end
if st ~= 'running' then
  return {'terminal', st}
end
local f = redis.call('HMGET', t, 'cid', 'tok', 'bl')
local msg, list = redis.call('GET', msg_key(t)), f[3]
if ARGV[3] == '1' and msg and list and redis.call('LREM', list, 1, msg) == 1 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  make_terminal(t, ARGV[1], 'cancelled', 'Cancelled before a worker took it.', KEYS[3], tonumber(ARGV[2]), now)
  redis.call('PUBLISH', KEYS[5], 'cancel ' .. ARGV[1])
  return {'cancelled'}
end
if redis.call('HEXISTS', t, 'cr') == 0 then
  redis.call('HSET', t, 'cr', fmt(now))
  redis.call('PUBLISH', KEYS[5], 'cancel-requested ' .. ARGV[1])
end
return {'revoke', f[1] or '', f[2] or '', msg or '', list or ''}
