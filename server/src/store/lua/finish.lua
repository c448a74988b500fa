-- finish: a running task reached a terminal state on evidence (a result, a revoke, a lost
-- worker). Frees its slot. Fenced: nothing happens unless the evidence is about the current
-- dispatch, so a late or repeated completion never frees another dispatch's slot or ends a
-- task twice.
--
-- Then, in the same atomic step, it refills the freed slot from the caller's prepared
-- candidates (what plan_next named when the caller last looked), exactly as dispatch.lua
-- does, and reports the tasks next in line so the caller can prepare the next refill: in the
-- common case a completion and its refill cost one round trip.
--
-- KEYS[1] the pool's prefix
-- ARGV[1] id   ARGV[2] celery id of the evidence ('' = any)   ARGV[3] fencing token ('' = any)
-- ARGV[4] completed | failed | cancelled   ARGV[5] error text ('' = none)   ARGV[6] retention ms
--   (A revoke the pool sent because the task ran past its type's max_runtime ends it failed,
--   with the error time_limit.lua recorded, unless a person cancelled it too.)
-- ARGV[7] inline (1: drop the message from kombu's unacked set; push refills to the broker)
-- ARGV[8] how many tasks next in line to report back (0: none)
-- ARGV[9..] groups of 5, refill candidates: id, celery id, message, broker list, delivery tag
-- Returns {code, stop, {{id, token}, ...}, {{id, name, parameters, attempts, crm_source,
-- sync_type}, ...}, crm_source} where code is 0 (nothing changed), 1 (ended, no task waits
-- for a free slot now) or 2 (ended, and a task that may start still waits for a free slot:
-- the caller must run a dispatch pass), and stop is why the refill stopped ('done', 'full', 'moved', 'paused').
if #ARGV < 8 or (#ARGV - 8) % 5 ~= 0 then
  return redis.error_reply('finish: refill candidates come in groups of 5')
end
local id = ARGV[1]
local t = tkey(id)
local f = redis.call('HMGET', t, 'st', 'cid', 'tok', 'dt', 'ws', 'typ', 'tl', 'cr', 'src', 'tn')
if f[1] ~= 'running'
  or (ARGV[2] ~= '' and f[2] ~= ARGV[2])
  or (ARGV[3] ~= '' and f[3] ~= ARGV[3]) then
  return {0, 'done', {}, {}, ''}
end
local inline = ARGV[7] == '1'
local now = now_ms()
local src = release_slot(id, t, f[9] or '', f[10] or '', f[5] and true or false)
if inline and not f[5] then
  -- (A started task's message left the unacked set when it started.)
  forget_unacked(f[4])
end
local status, err = ARGV[4], ARGV[5]
if status == 'cancelled' and f[7] and not f[8] then
  status, err = 'failed', f[7]
end
if f[5] and (status == 'completed' or status == 'failed') then
  -- How long the worker ran it: the history estimates come from (the last 100 per type).
  local ran = now - tonumber(f[5])
  local d = durations_key(src, f[6] or '')
  redis.call('LPUSH', d, fmt(ran))
  redis.call('LTRIM', d, 0, DURATIONS_KEPT - 1)
  observe('r', src, f[6] or '', ran)
end
make_terminal(t, id, status, err, tonumber(ARGV[6]), now, src, f[6] or '')
if status == 'completed' then
  -- A success ends the doubling of its source's automatic cool-downs.
  redis.call('HDEL', K.rules, 'x:' .. src)
end
redis.call('PUBLISH', K.events, 'finish ' .. id)

if redis.call('ZCARD', K.queue) == 0 then
  -- Nothing waits: no refill, no head to report.
  return {1, 'done', {}, {}, src}
end
local stop, dispatched = admit(ARGV, 9, inline, now)
local heads = {}
local want = tonumber(ARGV[8])
local free = max_workers() - redis.call('ZCARD', K.running)
if want > 0 then
  heads = candidates(want, now)
end
local code = 1
if free > 0 and not pool_paused() and next_ready(now) then
  code = 2
end
return {code, stop, dispatched, heads, src}
