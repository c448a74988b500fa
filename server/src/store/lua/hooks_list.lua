-- hooks_list: the newest webhook events and their deliveries, newest first. Read-only.
-- KEYS[1] the pool's prefix
-- ARGV[1] how many
-- Returns {{event id, {field, value, ...}}, ...} (events whose hash expired are skipped).
local out = {}
for _, eid in ipairs(redis.call('ZREVRANGE', K.hooks_recent, 0, tonumber(ARGV[1]) - 1)) do
  local h = redis.call('HGETALL', K.hook .. eid)
  if #h > 0 then
    table.insert(out, {eid, h})
  end
end
return out
