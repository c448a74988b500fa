-- finish: a running task reached a terminal state on evidence (a result, a revoke, a lost
-- worker). Frees its slot. Fenced: nothing happens unless the evidence is about the current
-- dispatch, so a late or repeated completion never frees another dispatch's slot or ends a
-- task twice.
--
-- Then, in the same atomic step, it refills the freed slot from the caller's prepared
-- candidates (the head of the queue as the caller last saw it), exactly as dispatch.lua does,
-- and reports the new head of the queue so the caller can prepare the next refill: in the
-- common case a completion and its refill cost one round trip.
--
-- KEYS[1] running (ZSET)   KEYS[2] finished (ZSET)   KEYS[3] the task's hash   KEYS[4] events
-- KEYS[5] config   KEYS[6] queue   KEYS[7] task prefix   KEYS[8] token counter
-- ARGV[1] id   ARGV[2] celery id of the evidence ('' = any)   ARGV[3] fencing token ('' = any)
-- ARGV[4] completed | failed | cancelled   ARGV[5] error text ('' = none)   ARGV[6] retention ms
-- ARGV[7] inline (1: drop the message from kombu's unacked set; push refills to the broker)
-- ARGV[8] how many head tasks to report back (0: none)
-- ARGV[9..] groups of 5, refill candidates: id, celery id, message, broker list, delivery tag
-- Returns {code, stop, {{id, token}, ...}, {{id, name, parameters, attempts, crm_source,
-- sync_type}, ...}} where code is 0 (nothing changed), 1 (ended, no task waits for a free
-- slot now) or 2 (ended, and tasks still wait for a free slot: the caller must run a dispatch
-- pass), and stop is why the refill stopped ('done', 'full', 'moved').
if #ARGV < 8 or (#ARGV - 8) % 5 ~= 0 then
  return redis.error_reply('finish: refill candidates come in groups of 5')
end
local t = KEYS[3]
local f = redis.call('HMGET', t, 'st', 'cid', 'tok', 'dt', 'ws')
if f[1] ~= 'running'
  or (ARGV[2] ~= '' and f[2] ~= ARGV[2])
  or (ARGV[3] ~= '' and f[3] ~= ARGV[3]) then
  return {0, 'done', {}, {}}
end
local inline = ARGV[7] == '1'
local now = now_ms()
redis.call('ZREM', KEYS[1], ARGV[1])
if inline and not f[5] then
  -- (A started task's message left the unacked set when it started.)
  forget_unacked(f[4])
end
make_terminal(t, ARGV[1], ARGV[4], ARGV[5], KEYS[2], tonumber(ARGV[6]), now)
redis.call('PUBLISH', KEYS[4], 'finish ' .. ARGV[1])

local queued = redis.call('ZCARD', KEYS[6])
if queued == 0 then
  -- Nothing waits: no refill, no head to report.
  return {1, 'done', {}, {}}
end

-- Refill from the candidates, in order, while each is still the head and a slot is free.
local max = tonumber(redis.call('HGET', KEYS[5], 'max_workers') or '1')
local dispatched = {}
local stop = 'done'
local i = 9
while i + 4 <= #ARGV do
  local id, cid, msg, list, tag = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  i = i + 5
  if redis.call('ZCARD', KEYS[1]) >= max then
    stop = 'full'
    break
  end
  local head = redis.call('ZRANGE', KEYS[6], 0, 0)
  if head[1] ~= id then
    stop = 'moved'
    break
  end
  local tkey = KEYS[7] .. id
  local seq = seq_of_score(redis.call('ZSCORE', KEYS[6], id))
  redis.call('ZREM', KEYS[6], id)
  queued = queued - 1
  if redis.call('HGET', tkey, 'st') == 'queued' then
    local tok = take_slot(tkey, id, seq, cid, msg, list, tag, inline, KEYS[1], KEYS[8], now)
    table.insert(dispatched, {id, fmt(tok)})
  end
end

-- The head of the queue, for the caller's next refill.
local want = tonumber(ARGV[8])
local heads = {}
if want > 0 and queued > 0 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[6], 0, want - 1)) do
    local h = redis.call('HMGET', KEYS[7] .. id, 'name', 'par', 'att', 'src', 'typ')
    table.insert(heads, {id, h[1] or '', h[2] or '', h[3] or '0', h[4] or '', h[5] or ''})
  end
end
local code = 1
if queued > 0 and redis.call('ZCARD', KEYS[1]) < max then
  code = 2
end
return {code, stop, dispatched, heads}
