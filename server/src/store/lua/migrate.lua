-- migrate: files the queued tasks of an earlier version into their groups' queues, and its
-- running tasks into their sources' and tenants' sets (see common.lua), once per store.
-- Version 1 had no groups; version 2 grouped by (source, tenant); groups are now (source,
-- sync type, tenant), marked by K.config 'groups' = '3'. Runs at start-up, before anything
-- is dispatched. O(queued tasks), once.
-- KEYS[1] the pool's prefix
-- Returns how many tasks it filed (0 when there was nothing to do).
local VERSION = '3'
if redis.call('HGET', K.config, 'groups') == VERSION then
  return 0
end
redis.call('HSET', K.config, 'groups', VERSION)
-- The structures of an earlier grouping go: the groups are rebuilt from the queue below.
for _, src in ipairs(redis.call('SMEMBERS', K.sources)) do
  for _, g in ipairs(redis.call('SMEMBERS', groups_of(src))) do
    redis.call('DEL', gqueue(g))
    redis.call('ZREM', K.ready, g)
    redis.call('HDEL', K.parked, g)
    redis.call('ZREM', K.wake, g)
  end
  redis.call('DEL', groups_of(src), parked_of(src))
end
local touched, n = {}, 0
local ids = redis.call('ZRANGE', K.queue, 0, -1, 'WITHSCORES')
for i = 1, #ids, 2 do
  local id, score = ids[i], ids[i + 1]
  local h = redis.call('HMGET', tkey(id), 'src', 'tn', 'typ')
  if h[1] then
    local g = group_of(h[1], h[3] or '', h[2] or '')
    redis.call('ZADD', gqueue(g), score, id)
    redis.call('SADD', groups_of(h[1]), g)
    redis.call('SADD', K.sources, h[1])
    touched[g] = true
    n = n + 1
  end
end
for g in pairs(touched) do
  refresh_group(g)
end
-- Running tasks count against their source's (and tenant's) limits.
for _, id in ipairs(redis.call('ZRANGE', K.running, 0, -1)) do
  local h = redis.call('HMGET', tkey(id), 'src', 'tn')
  if h[1] then
    redis.call('SADD', run_src(h[1]), id)
    if h[2] and h[2] ~= '' then
      redis.call('SADD', run_tenant(h[1], h[2]), id)
    end
  end
end
return n
