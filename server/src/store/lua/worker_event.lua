-- worker_event: records what a Celery worker said about itself (every replica hears every
-- event; the writes are idempotent). Times come from the Redis clock.
-- KEYS[1] the pool's prefix. It writes K.seen (hostname -> last heard, ms), K.proc
-- (hostname -> '<pid>:<since ms>'), K.offline (hostname -> '<ms>:<tasks it still runs>') and
-- K.first (hostname -> when first heard from, ms).
-- ARGV[1] worker-heartbeat | worker-online | worker-offline   ARGV[2] hostname
-- ARGV[3] the worker's main-process pid (may be empty)   ARGV[4] heartbeat interval ms
-- ARGV[5] the event's `active`: tasks the worker is executing (may be empty)
-- `since` is the earliest the process holding the hostname can have come online: 0 for the
-- first process heard of (it may have been up for long), the online's time when an online
-- announces a new pid, and one heartbeat interval (plus a margin) before it when a heartbeat
-- or offline is the first word from a new pid (its online was missed). A reconnect keeps the
-- pid, so it changes nothing here.
-- Returns 2 when this event is the first word of a new process holding the hostname (a worker
-- that started or restarted: it has not heard earlier revokes), else 1.
local now = now_ms()
local host, pid = ARGV[2], ARGV[3]
redis.call('HSETNX', K.first, host, fmt(now))
if ARGV[1] == 'worker-offline' then
  redis.call('HSET', K.offline, host, fmt(now) .. ':' .. (tonumber(ARGV[5]) and ARGV[5] or '0'))
else
  redis.call('HSET', K.seen, host, fmt(now))
end
if pid ~= '' then
  local cur = redis.call('HGET', K.proc, host)
  local known = cur and string.match(cur, '^([^:]*):')
  if known ~= pid then
    local since = 0
    if cur and ARGV[1] == 'worker-online' then
      since = now
    elseif cur then
      since = now - math.floor(tonumber(ARGV[4]) * 1.25)
    end
    redis.call('HSET', K.proc, host, pid .. ':' .. fmt(since))
    return 2
  end
end
return 1
