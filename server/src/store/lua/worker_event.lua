-- worker_event: records what a Celery worker said about itself (every replica hears every
-- event; the writes are idempotent). Times come from the Redis clock.
-- KEYS[1] last heartbeat (HASH hostname -> ms)   KEYS[2] last online (HASH)   KEYS[3] last offline (HASH)
-- ARGV[1] worker-heartbeat | worker-online | worker-offline   ARGV[2] hostname
-- Returns 1.
local now = fmt(now_ms())
if ARGV[1] == 'worker-offline' then
  redis.call('HSET', KEYS[3], ARGV[2], now)
else
  redis.call('HSET', KEYS[1], ARGV[2], now)
  if ARGV[1] == 'worker-online' then
    redis.call('HSET', KEYS[2], ARGV[2], now)
  end
end
return 1
