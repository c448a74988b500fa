-- history: finished tasks, newest first, optionally of one status.
-- KEYS[1] the pool's prefix
-- ARGV[1] status filter ('' = all)   ARGV[2] limit   ARGV[3] the most index entries to scan
-- Returns {{id, {field, value, ...}}, ...}
local out = {}
local limit, cap = tonumber(ARGV[2]), tonumber(ARGV[3])
local scanned, batch = 0, 200
while #out < limit and scanned < cap do
  local ids = redis.call('ZREVRANGE', K.finished, scanned, scanned + batch - 1)
  if #ids == 0 then
    break
  end
  for _, id in ipairs(ids) do
    local f = redis.call('HGETALL', tkey(id))
    if #f > 0 then
      local st
      for j = 1, #f, 2 do
        if f[j] == 'st' then st = f[j + 1] end
      end
      if ARGV[1] == '' or st == ARGV[1] then
        table.insert(out, {id, f})
        if #out >= limit then break end
      end
    end
  end
  scanned = scanned + #ids
end
return out
