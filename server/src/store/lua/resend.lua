-- resend: publishes a running task's lost message again, under a new Celery id, keeping the
-- task's slot (it never leaves the running set) and its dispatch time. The message was lost
-- between the broker and a worker (kombu's Redis transport pops it with BRPOP before it
-- writes it to `unacked`, so a worker killed in between takes it with it): lost_note.lua has
-- seen it missing everywhere for at least ARGV[10] ms, and no worker ever reported STARTED,
-- so the task never ran and sending it again cannot run it twice. The old Celery id joins the
-- superseded set: the caller revokes it, and a STARTED from it is revoked again.
-- A task whose cancel was pending is not sent again: it ends `cancelled`.
-- KEYS[1] the pool's prefix
-- ARGV[1] id   ARGV[2] celery id of the lost dispatch   ARGV[3] its fencing token
-- ARGV[4] new celery id   ARGV[5] new message   ARGV[6] broker list   ARGV[7] new delivery tag
-- ARGV[8] inline (1: check the old message's absence and push the new one here)
-- ARGV[9] why, for the task's record   ARGV[10] how long it must have looked lost (ms)
-- ARGV[11] retention ms   ARGV[12] how long superseded ids are remembered (ms)
-- Returns {'stale'} (nothing changed: another dispatch, started, ended, or not judged lost
-- for long enough) | {'present'} (inline: the old message is in the list or unacked after
-- all; the note is cleared) | {'cancelled'} (slot freed) | {'resent', new token}
local t = tkey(ARGV[1])
local f = redis.call('HMGET', t, 'st', 'cid', 'tok', 'ws', 'lsa', 'cr', 'bl', 'dt')
if f[1] ~= 'running' or f[2] ~= ARGV[2] or f[3] ~= ARGV[3] or f[4] then
  return {'stale'}
end
local now = now_ms()
if not f[5] or now - tonumber(f[5]) < tonumber(ARGV[10]) then
  return {'stale'}
end
local inline = ARGV[8] == '1'
if inline then
  local old = redis.call('GET', msg_key(t))
  local listed = old and f[7] and redis.call('LPOS', f[7], old)
  if listed or (f[8] and redis.call('HEXISTS', 'unacked', f[8]) == 1) then
    redis.call('HDEL', t, 'lsa')
    return {'present'}
  end
end
redis.call('ZADD', K.superseded, fmt(now), ARGV[2])
redis.call('ZREMRANGEBYSCORE', K.superseded, '-inf', '(' .. fmt(now - tonumber(ARGV[12])))
if f[6] then
  release_slot(ARGV[1], t)
  make_terminal(t, ARGV[1], 'cancelled',
    'Cancelled; its message was lost before any worker took it, so it never ran.',
    tonumber(ARGV[11]), now)
  redis.call('HINCRBY', K.stats, 'lost_messages_cancelled', 1)
  redis.call('PUBLISH', K.events, 'cancel ' .. ARGV[1])
  return {'cancelled'}
end
local tok = redis.call('INCR', K.token)
redis.call('ZADD', K.running, 'XX', fmt(tok), ARGV[1])
redis.call('SET', msg_key(t), ARGV[5])
redis.call('HINCRBY', t, 'att', 1)
redis.call('HINCRBY', t, 'rsn', 1)
redis.call('HDEL', t, 'lsa')
redis.call('HSET', t, 'cid', ARGV[4], 'tok', fmt(tok), 'bl', ARGV[6], 'dt', ARGV[7],
  'pub', inline and '1' or '0', 'rsa', fmt(now), 'rsw', ARGV[9])
if inline then
  redis.call('LPUSH', ARGV[6], ARGV[5])
end
redis.call('HINCRBY', K.stats, 'messages_resent', 1)
redis.call('PUBLISH', K.events, 'resend ' .. ARGV[1])
return {'resent', fmt(tok)}
