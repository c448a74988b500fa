-- hooks_claim: takes up to ARGV[2] webhook events that are due, for one replica: each is
-- leased to the caller (its due time moves ARGV[1] ms ahead), so no other replica delivers it
-- meanwhile; a replica that dies mid-delivery lets the lease run out and another takes over.
-- Also turns cool-downs that have ended by themselves into events (K.hooks_cooling), and marks
-- webhooks as on for ARGV[3] ms (the scripts record events only while a replica delivers).
-- KEYS[1] the pool's prefix
-- ARGV[1] lease ms   ARGV[2] how many at most   ARGV[3] how long webhooks stay on (ms)
-- Returns {{event id, kind, ref, until ms | '', created ms, attempts, body | '',
--   {'s:<url>', state, ...}}, ...}.
local now = now_ms()
redis.call('SET', K.hooks_on, '1', 'PX', ARGV[3])
for _, src in ipairs(redis.call('ZRANGEBYSCORE', K.hooks_cooling, '-inf', fmt(now))) do
  redis.call('ZREM', K.hooks_cooling, src)
  local cur = tonumber(redis.call('HGET', K.rules, 'c:' .. src) or '0')
  if cur <= now then
    hook_event('source.cooldown_ended', src, '', now)
  end
end
local out = {}
for _, eid in ipairs(redis.call('ZRANGEBYSCORE', K.hooks_due, '-inf', fmt(now), 'LIMIT', 0,
    tonumber(ARGV[2]))) do
  local h = redis.call('HMGET', K.hook .. eid, 'kind', 'ref', 'until', 'at', 'att', 'body')
  if h[1] then
    redis.call('ZADD', K.hooks_due, fmt(now + tonumber(ARGV[1])), eid)
    -- Each URL's state so far ('s:<url>'), so a retry skips the URLs done with it.
    local states = {}
    local all = redis.call('HGETALL', K.hook .. eid)
    for i = 1, #all, 2 do
      if string.sub(all[i], 1, 2) == 's:' then
        table.insert(states, all[i])
        table.insert(states, all[i + 1])
      end
    end
    table.insert(out, {eid, h[1], h[2] or '', h[3] or '', h[4] or '0', h[5] or '0', h[6] or '',
      states})
  else
    redis.call('ZREM', K.hooks_due, eid)
  end
end
return out
