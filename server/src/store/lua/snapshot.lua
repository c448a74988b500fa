-- snapshot: the pool as one consistent read: the limit, the running tasks, the head of the
-- queue and its length. Read-only; cost independent of the queue's length beyond ARGV[1].
-- KEYS[1] config   KEYS[2] running   KEYS[3] queue   KEYS[4] task prefix
-- ARGV[1] how many queued tasks to include
-- Returns {max_workers, queued_count, {running: id, fields...}, {queued: id, fields...}}
-- where each task is {id, {field, value, ...}} (HGETALL), in order.
local function tasks(ids)
  local out = {}
  for _, id in ipairs(ids) do
    table.insert(out, {id, redis.call('HGETALL', KEYS[4] .. id)})
  end
  return out
end
local max = redis.call('HGET', KEYS[1], 'max_workers') or '1'
local running = redis.call('ZRANGE', KEYS[2], 0, -1)
local queued = {}
local limit = tonumber(ARGV[1])
if limit > 0 then
  queued = redis.call('ZRANGE', KEYS[3], 0, limit - 1)
end
return {max, redis.call('ZCARD', KEYS[3]), tasks(running), tasks(queued)}
