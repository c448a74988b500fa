-- metrics: what GET /metrics reports, read in one step from the pool's shared state, so any
-- replica answers for the whole pool. Read-only.
-- KEYS[1] the pool's prefix
-- ARGV[1] heartbeat timeout ms (a worker's state)
-- ARGV[2..] the sources to report (the registry's; every source that ever queued, or had a
--           rule, is added from K.sources)
-- Returns {now ms, max_workers, pool paused (0/1), running, queued, oldest queued task's
-- creation ms ('' when none), {histogram bucket bounds ms, ...}, K.metrics as a flat
-- field/value list, K.stats likewise, {state, workers in it, ...} (worker_state),
-- {source_row (common.lua), ...}, {refill histogram bucket bounds ms, ...}}
local now = now_ms()
local names, seen_src = {}, {}
local function add(src)
  if src ~= '' and not seen_src[src] then
    seen_src[src] = true
    table.insert(names, src)
  end
end
for i = 2, #ARGV do
  add(ARGV[i])
end
for _, src in ipairs(redis.call('SMEMBERS', K.sources)) do
  add(src)
end
table.sort(names)
local sources = {}
for _, src in ipairs(names) do
  table.insert(sources, source_row(src, now))
end

-- The oldest queued task: the queue is ordered by priority first, so look at the first task of
-- each priority present (arrival order within one); with aging, the score is the arrival time
-- offset by at most 200 aging steps, so only tasks within that offset of the first can be older.
local oldest = nil
local a = aging_ms()
if a > 0 then
  local first = redis.call('ZRANGE', K.queue, 0, 0, 'WITHSCORES')
  if first[2] then
    local bound = (math.floor(tonumber(first[2]) / TIE) + 200 * a + 1) * TIE
    for _, id in ipairs(redis.call('ZRANGE', K.queue, '-inf', fmt(bound), 'BYSCORE', 'LIMIT', 0,
        10000)) do
      local ct = tonumber(redis.call('HGET', tkey(id), 'ct') or '')
      if ct and (not oldest or ct < oldest) then
        oldest = ct
      end
    end
  end
else
  local from = '-inf'
  while true do
    local head = redis.call('ZRANGE', K.queue, from, '+inf', 'BYSCORE', 'LIMIT', 0, 1,
      'WITHSCORES')
    if #head == 0 then
      break
    end
    local ct = tonumber(redis.call('HGET', tkey(head[1]), 'ct') or '')
    if ct and (not oldest or ct < oldest) then
      oldest = ct
    end
    -- The next priority band.
    from = fmt((math.floor(tonumber(head[2]) / SEQ_SPAN) + 1) * SEQ_SPAN)
  end
end

local workers = {online = 0, draining = 0, lost = 0, offline = 0}
for _, host in ipairs(worker_hosts()) do
  local st = worker_state(host, now, tonumber(ARGV[1]))
  if st then
    workers[st] = workers[st] + 1
  end
end
local by_state = {}
for _, st in ipairs({'draining', 'lost', 'offline', 'online'}) do
  table.insert(by_state, st)
  table.insert(by_state, workers[st])
end

local bounds, refill_bounds = {}, {}
for _, b in ipairs(METRIC_BUCKETS_MS) do
  table.insert(bounds, fmt(b))
end
for _, b in ipairs(REFILL_BUCKETS_MS) do
  table.insert(refill_bounds, fmt(b))
end
return {fmt(now), max_workers(), pool_paused() and 1 or 0, redis.call('ZCARD', K.running),
  redis.call('ZCARD', K.queue), oldest and fmt(oldest) or '', bounds,
  redis.call('HGETALL', K.metrics), redis.call('HGETALL', K.stats), by_state, sources,
  refill_bounds}
