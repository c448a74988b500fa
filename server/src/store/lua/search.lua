-- search: tasks matching a filter, a page at a time: the running tasks, then the queued ones in
-- queue order, then the finished ones, newest first (the order of GET tasks/). Examines at
-- most ARGV[10] index entries per call, so a search over a long history never holds Redis for
-- long: when it stops there, it returns a cursor to go on from. Read-only.
-- KEYS[1] the pool's prefix
-- ARGV[1] phases to look in, among 'r' (running), 'q' (queued), 'f' (finished), in order
-- ARGV[2] status ('' any; for finished tasks, the one status)   ARGV[3] source ('' any)
-- ARGV[4] sync type ('' any)   ARGV[5] tenant ('' any)   ARGV[6] text: lower-case, found in
-- the id or the error ('' any)   ARGV[7] created at or after (ms, '' any)   ARGV[8] created
-- before (ms, '' any)   ARGV[9] limit   ARGV[10] the most entries to examine
-- ARGV[11] cursor: '<phase>:<offset>' ('' from the start)
-- Returns {next cursor ('' when nothing is left), {{id, {field, value, ...}, rank or -1,
-- blocked_by or ''}, ...}}
local phases, status, src, typ, tn, text = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local from, before = tonumber(ARGV[7]), tonumber(ARGV[8])
local limit, cap = tonumber(ARGV[9]), tonumber(ARGV[10])
local phase, offset = 1, 0
if ARGV[11] ~= '' then
  local p, o = string.match(ARGV[11], '^(%a):(%d+)$')
  phase = p and string.find(phases, p, 1, true)
  if not phase then
    return redis.error_reply('search: bad cursor')
  end
  offset = tonumber(o)
end
local now = now_ms()
local out, examined = {}, 0

local function range(p, start, stop)
  if p == 'r' then
    return redis.call('ZRANGE', K.running, start, stop)
  elseif p == 'q' then
    return redis.call('ZRANGE', K.queue, start, stop)
  end
  return redis.call('ZREVRANGE', K.finished, start, stop)
end

local function matches(id, h)
  -- h: st, src, typ, tn, ct, err
  if not h[1] then
    return false
  end
  if status ~= '' and h[1] ~= status then return false end
  if src ~= '' and h[2] ~= src then return false end
  if typ ~= '' and h[3] ~= typ then return false end
  if tn ~= '' and h[4] ~= tn then return false end
  local ct = tonumber(h[5] or '')
  if from and (not ct or ct < from) then return false end
  if before and (not ct or ct >= before) then return false end
  if text ~= '' and not string.find(string.lower(id), text, 1, true)
      and not string.find(string.lower(h[6] or ''), text, 1, true) then
    return false
  end
  return true
end

while phase <= #phases do
  local p = string.sub(phases, phase, phase)
  local batch = math.min(200, cap - examined)
  if batch <= 0 then
    return {p .. ':' .. fmt(offset), out}
  end
  local ids = range(p, offset, offset + batch - 1)
  for i, id in ipairs(ids) do
    examined = examined + 1
    local t = tkey(id)
    local h = redis.call('HMGET', t, 'st', 'src', 'typ', 'tn', 'ct', 'err')
    if matches(id, h) then
      local rank, why = -1, ''
      if h[1] == 'queued' then
        rank = offset + i - 1
        why = blocked_by(h[2] or '', h[3] or '', h[4] or '', now)
      end
      table.insert(out, {id, redis.call('HGETALL', t), rank, why})
      if #out >= limit then
        local next_offset = offset + i
        return {p .. ':' .. fmt(next_offset), out}
      end
    end
  end
  if #ids < batch then
    phase, offset = phase + 1, 0
  else
    offset = offset + #ids
  end
end
return {'', out}
