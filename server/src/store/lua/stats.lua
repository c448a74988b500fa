-- stats: the last ARGV[1] minutes, one row per minute, oldest first (see the minute hashes in
-- common.lua). Read-only.
-- KEYS[1] the pool's prefix
-- ARGV[1] how many minutes (1..1440), the current one included
-- Returns {now ms, {wait bucket bounds ms, ...}, {{minute (minutes since the epoch), running,
-- running max, queued, queued max, limit, starts, completed, failed, cancelled,
-- {wait bucket counts, ...}}, ...}}; '' for a gauge no replica sampled that minute.
local now = now_ms()
local n = tonumber(ARGV[1])
if not n or n < 1 or n > 1440 then
  return redis.error_reply('stats: minutes must be 1..1440')
end
local current = math.floor(now / MINUTE_MS)
local nb = #METRIC_BUCKETS_MS + 1
local fields = {'r', 'rx', 'q', 'qx', 'm', 'st', 'c', 'f', 'x'}
for i = 1, nb do
  table.insert(fields, 'w' .. i)
end
local rows = {}
for m = current - n + 1, current do
  local h = redis.call('HMGET', K.minute .. fmt(m), unpack(fields))
  local row = {fmt(m)}
  for i = 1, 5 do
    table.insert(row, h[i] or '')
  end
  for i = 6, 9 do
    table.insert(row, h[i] or '0')
  end
  local waits = {}
  for i = 10, #fields do
    table.insert(waits, h[i] or '0')
  end
  table.insert(row, waits)
  table.insert(rows, row)
end
local bounds = {}
for _, b in ipairs(METRIC_BUCKETS_MS) do
  table.insert(bounds, fmt(b))
end
return {fmt(now), bounds, rows}
