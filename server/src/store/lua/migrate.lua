-- migrate: files the tasks queued by a version without flow control into their groups'
-- queues, and its running tasks into their sources' sets (see common.lua), once: a store
-- that has never been migrated. Runs at start-up,
-- before anything is dispatched. O(queued tasks), once.
-- KEYS[1] the pool's prefix
-- Returns how many tasks it filed (0 when there was nothing to do).
if redis.call('HSETNX', K.config, 'groups', '1') == 0 then
  return 0
end
local touched, n = {}, 0
local ids = redis.call('ZRANGE', K.queue, 0, -1, 'WITHSCORES')
for i = 1, #ids, 2 do
  local id, score = ids[i], ids[i + 1]
  local h = redis.call('HMGET', tkey(id), 'src', 'tn')
  if h[1] then
    local g = group_of(h[1], h[2] or '')
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
      redis.call('SADD', run_group(group_of(h[1], h[2])), id)
    end
  end
end
return n
