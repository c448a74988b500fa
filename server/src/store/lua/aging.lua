-- aging: sets priority aging (ms of waiting worth one priority point; 0 = off, the seed's
-- strict order) and, when it changes, scores every queued task again under the new rule
-- (see queue_score in common.lua). O(queued tasks), only when the setting changes.
-- KEYS[1] the pool's prefix
-- ARGV[1] aging ms (0 = off)
-- Returns how many queued tasks were scored again (-1 when the setting did not change).
local new = tonumber(ARGV[1])
local old = aging_ms()
if old == new then
  return -1
end
-- Every task's full arrival number, under the old rule, before the rule changes.
local ids = redis.call('ZRANGE', K.queue, 0, -1, 'WITHSCORES')
local seqs = {}
for i = 1, #ids, 2 do
  seqs[i] = seq_of(tkey(ids[i]), ids[i + 1])
end
redis.call('HSET', K.config, 'aging', fmt(new))
config().aging = new
local touched = {}
for i = 1, #ids, 2 do
  local id = ids[i]
  local t = tkey(id)
  local h = redis.call('HMGET', t, 'pri', 'ct', 'src', 'typ', 'tn')
  local score = fmt(queue_score(h[1], seqs[i], h[2]))
  if new > 0 then
    redis.call('HSET', t, 'seq', fmt(seqs[i]))
  else
    redis.call('HDEL', t, 'seq')
  end
  local g = group_of(h[3] or '', h[4] or '', h[5] or '')
  redis.call('ZADD', K.queue, score, id)
  redis.call('ZADD', gqueue(g), 'XX', score, id)
  touched[g] = true
end
for g in pairs(touched) do
  refresh_group(g)
end
redis.call('PUBLISH', K.events, 'aging')
return #ids / 2
