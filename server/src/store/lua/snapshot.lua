-- snapshot: the pool as one consistent read: the limit, the running tasks, the head of the
-- queue (each with why it waits) and its length, and every source's rules and use.
-- Read-only; its cost does not grow with the queue's length beyond ARGV[1], nor with the
-- tasks of a source (only with its groups).
-- KEYS[1] the pool's prefix
-- ARGV[1] how many queued tasks to include   ARGV[2..] the sources to report on
-- Returns {max_workers, queued_count, {running: {id, {field, value, ...}}, ...},
-- {queued: {id, {field, value, ...}, blocked_by}, ...}, pool paused (0/1),
-- {{source, running, queued, limit, tenant_limit, rate starts, rate window ms, rate used,
-- cooling until ms, paused (0/1), {start ms in the window, ...}}, ...}, now ms}, in order; a
-- missing rule is ''.
local now = now_ms()
local running = {}
for _, id in ipairs(redis.call('ZRANGE', K.running, 0, -1)) do
  table.insert(running, {id, redis.call('HGETALL', tkey(id))})
end
local queued = {}
local limit = tonumber(ARGV[1])
if limit > 0 then
  for _, id in ipairs(redis.call('ZRANGE', K.queue, 0, limit - 1)) do
    local h = redis.call('HGETALL', tkey(id))
    local src, typ, tn = '', '', ''
    for i = 1, #h, 2 do
      if h[i] == 'src' then src = h[i + 1] elseif h[i] == 'tn' then tn = h[i + 1]
      elseif h[i] == 'typ' then typ = h[i + 1] end
    end
    table.insert(queued, {id, h, blocked_by(src, typ, tn, now)})
  end
end
local sources = {}
for i = 2, #ARGV do
  table.insert(sources, source_row(ARGV[i], now))
end
return {max_workers(), redis.call('ZCARD', K.queue), running, queued,
  pool_paused() and 1 or 0, sources, fmt(now)}
