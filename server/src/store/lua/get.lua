-- get: one task and, while it is queued, its 0-based rank in the queue and why it waits.
-- KEYS[1] the pool's prefix
-- ARGV[1] id
-- Returns {} when missing, else {{field, value, ...}, rank or -1, blocked_by or ''}
local t = tkey(ARGV[1])
local f = redis.call('HGETALL', t)
if #f == 0 then
  return {}
end
local rank = redis.call('ZRANK', K.queue, ARGV[1])
if not rank then
  return {f, -1, ''}
end
local h = redis.call('HMGET', t, 'src', 'tn', 'typ')
return {f, rank, blocked_by(h[1] or '', h[3] or '', h[2] or '', now_ms())}
