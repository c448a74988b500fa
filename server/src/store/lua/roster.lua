-- roster: the Celery workers alive now, as their own events tell: heard from (an online or a
-- heartbeat) within the timeout, and no offline since. Read-only.
-- KEYS[1] the pool's prefix (K.seen and K.offline: see worker_event.lua)
-- ARGV[1] heartbeat timeout ms
-- Returns {hostname, ...}
local now = now_ms()
local timeout = tonumber(ARGV[1])
local out = {}
local seen = redis.call('HGETALL', K.seen)
for i = 1, #seen, 2 do
  local host, at = seen[i], tonumber(seen[i + 1])
  if now - at <= timeout then
    local off = redis.call('HGET', K.offline, host)
    local offline = off and tonumber(string.match(off, '^(%d+)'))
    if not (offline and offline >= at) then
      table.insert(out, host)
    end
  end
end
return out
