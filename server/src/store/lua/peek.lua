-- peek: how many slots are free, and the queued tasks that would take them, in order.
-- KEYS[1] config (HASH)   KEYS[2] running (ZSET)   KEYS[3] queue (ZSET)   KEYS[4] task key prefix
-- ARGV[1] the most candidates to return
-- Returns {free, {id, task_name ('' when it is <crm_source>.<sync_type>), parameters,
-- attempts so far, crm_source, sync_type}, ...}. Read-only.
local max = tonumber(redis.call('HGET', KEYS[1], 'max_workers') or '1')
local free = max - redis.call('ZCARD', KEYS[2])
if free <= 0 then
  return {0}
end
local n = math.min(free, tonumber(ARGV[1]))
local out = {free}
for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, n - 1)) do
  local f = redis.call('HMGET', KEYS[4] .. id, 'name', 'par', 'att', 'src', 'typ')
  table.insert(out, {id, f[1] or '', f[2] or '', f[3] or '0', f[4] or '', f[5] or ''})
end
return out
