-- Helpers prepended to every script (see store/scripts.rs). Not a script on its own.
--
-- Every script gets the pool's key prefix as KEYS[1] ('<prefix>:') and names its keys from it
-- through K (the same names as store/keys.rs, which documents them).
--
-- Numbers: Lua's tostring() keeps only 14 significant digits, so every number written to Redis
-- goes through fmt(), which prints integers exactly (all ours are below 2^53).

local P = KEYS[1]
local K = {
  config = P .. 'config', seq = P .. 'seq', token = P .. 'token', queue = P .. 'queue',
  running = P .. 'running', finished = P .. 'finished', events = P .. 'events',
  task = P .. 'task:', superseded = P .. 'superseded', stats = P .. 'stats',
  seen = P .. 'workers:seen', proc = P .. 'workers:proc', offline = P .. 'workers:offline',
  ready = P .. 'ready', parked = P .. 'parked', wake = P .. 'wake', rules = P .. 'rules',
  sources = P .. 'sources', deadlines = P .. 'deadlines', metrics = P .. 'metrics',
  started = P .. 'started', first = P .. 'workers:first', freed = P .. 'freed',
  minute = P .. 'm:',
  hooks_on = P .. 'hooks:on', hooks_seq = P .. 'hooks:seq', hooks_due = P .. 'hooks:due',
  hooks_recent = P .. 'hooks:recent', hooks_cooling = P .. 'hooks:cooling', hook = P .. 'hook:',
}

local function fmt(n)
  return string.format('%.0f', n)
end

-- Milliseconds since the epoch, from the Redis server's clock: one clock for every replica.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function tkey(id)
  return K.task .. id
end

-- The queue score. By default (the seed's order): higher priority first, then arrival order
-- (seq). priority is -100..100, seq < 2^44, so the score stays below 2^53 and exact. A queued
-- task's seq then lives only in its score (a million queued tasks each save the field); it is
-- copied to the hash at dispatch, for a requeue.
--
-- With priority aging (K.config 'aging': ms of waiting worth one priority point, 0 = off),
-- a task's effective priority grows by one point per `aging` ms waited. Ordering by
-- effective priority at any moment is ordering by created + (100 - priority) * aging, which
-- does not change with time: one sorted order, O(log n), as without aging. That key (ms since
-- AGING_EPOCH) fills the high bits of the score and the low 14 bits of seq break ties by
-- arrival; the full seq is kept in the task's hash ('seq'), so the order can be rebuilt
-- either way when aging is switched (aging.lua).
local SEQ_SPAN = 17592186044416
local AGING_EPOCH = 1735689600000 -- 2025-01-01T00:00:00Z
local TIE = 16384
-- The pool's settings, read once per script (nothing changes them meanwhile but set_max.lua
-- and aging.lua, which do not read them after): max_workers and aging.
local CONFIG = nil
local function config()
  if not CONFIG then
    local f = redis.call('HMGET', K.config, 'max_workers', 'aging')
    CONFIG = {max = tonumber(f[1] or '1'), aging = tonumber(f[2] or '0')}
  end
  return CONFIG
end

local function aging_ms()
  return config().aging
end

local function queue_score(priority, seq, created)
  local a = aging_ms()
  if a > 0 then
    return ((tonumber(created) - AGING_EPOCH) + (100 - tonumber(priority)) * a) * TIE
      + tonumber(seq) % TIE
  end
  return (100 - tonumber(priority)) * SEQ_SPAN + tonumber(seq)
end

-- A queued task's arrival number: from its score, or with aging from its hash.
local function seq_of(t, score)
  if aging_ms() > 0 then
    return tonumber(redis.call('HGET', t, 'seq') or '0')
  end
  return tonumber(score) % SEQ_SPAN
end

local function max_workers()
  return config().max
end

-- A running task's Celery message lives beside its hash, under <task key>:msg: a 1 KB value
-- inside the hash would turn Redis' compact encoding of every running task's hash into a
-- full hash table.
local function msg_key(t)
  return t .. ':msg'
end

-- A task's journal (its page's timeline, beyond what its own fields record) lives beside its
-- hash too: <task key>:log, a list of '<ms> <kind> <detail>' notes, the last NOTES_KEPT. Kinds:
-- 'w' why it waits (a blocked_by reason; written when a rule parks its group with it first in
-- line: one note per parking, so a million tasks queued behind a rule cost nothing more),
-- 'q' back in the queue (a lost worker's task, requeued), 'r' Celery retries it. Its traceback,
-- when Celery stored one, is <task key>:tb. Both expire with the task.
local NOTES_KEPT = 32
local function log_key(t)
  return t .. ':log'
end
local function tb_key(t)
  return t .. ':tb'
end

-- Appends a note to a task's journal; a 'w' note that repeats the last note is skipped.
local function note(t, kind, detail, now)
  local key = log_key(t)
  if kind == 'w' then
    local last = redis.call('LINDEX', key, -1)
    if last and string.match(last, '^%d+ (.*)$') == kind .. ' ' .. detail then
      return
    end
  end
  redis.call('RPUSH', key, fmt(now) .. ' ' .. kind .. ' ' .. detail)
  redis.call('LTRIM', key, -NOTES_KEPT, -1)
end

-- Drops a message from kombu's unacked set (in this database: inline mode only), so kombu
-- never restores it to the queue and runs it again. Safe once the task has started or ended,
-- or its worker is lost: the pool, not the visibility timeout, decides what happens next.
local function forget_unacked(tag)
  if tag and tag ~= '' then
    redis.call('HDEL', 'unacked', tag)
    redis.call('ZREM', 'unacked_index', tag)
  end
end

-- --- Webhooks --------------------------------------------------------------------------------
-- While some replica delivers webhooks (K.hooks_on, refreshed by hooks_claim.lua), the scripts
-- record each event in the outbox in the same step as the change: a hash per event
-- (K.hook .. id: kind, ref (a task id or a source), until (a cool-down's end), at, att) that is
-- due at once (K.hooks_due) and listed among the newest (K.hooks_recent, the last 1,000).
local function hooks_on()
  return redis.call('EXISTS', K.hooks_on) == 1
end

local function hook_event(kind, ref, until_ms, now)
  local eid = fmt(redis.call('INCR', K.hooks_seq))
  redis.call('HSET', K.hook .. eid, 'kind', kind, 'ref', ref, 'until', until_ms, 'at', fmt(now),
    'att', '0')
  redis.call('ZADD', K.hooks_due, fmt(now), eid)
  redis.call('ZADD', K.hooks_recent, fmt(now), eid)
  redis.call('ZREMRANGEBYRANK', K.hooks_recent, 0, -1001)
end

-- --- Celery workers ---------------------------------------------------------------------------
-- A worker's state, from its own events (K.seen, K.offline; see worker_event.lua): 'online'
-- (heard from within timeout ms, no offline since), 'draining' (it said it went offline with
-- tasks still running: a warm shutdown), 'offline' (it went offline with nothing left),
-- 'lost' (silent past the timeout, no offline), or nil for a hostname never heard from.
local function worker_state(host, now, timeout)
  local seen = tonumber(redis.call('HGET', K.seen, host) or '')
  local off = redis.call('HGET', K.offline, host)
  if off then
    local at, active = string.match(off, '^(%d+):(%d+)$')
    if at and (not seen or tonumber(at) >= seen) then
      return tonumber(active) > 0 and 'draining' or 'offline'
    end
  end
  if not seen then
    return nil
  end
  if now - seen > timeout then
    return 'lost'
  end
  return 'online'
end

-- Every hostname the pool has heard of.
local function worker_hosts()
  local hosts, seen = {}, {}
  for _, key in ipairs({K.seen, K.offline, K.proc}) do
    for _, h in ipairs(redis.call('HKEYS', key)) do
      if not seen[h] then
        seen[h] = true
        table.insert(hosts, h)
      end
    end
  end
  table.sort(hosts)
  return hosts
end

-- --- Metrics ---------------------------------------------------------------------------------
-- Pool-wide counters and histograms for GET /metrics, in one hash (K.metrics), written by the
-- scripts where things happen, so every replica serves the same numbers. Field names are parts
-- joined by GSEP: 'sub' src typ (tasks accepted); 'end' src typ status (tasks ended, by final
-- status); 'w' src typ i and 'ws' src typ (waits from submit to start: a count per bucket i of
-- METRIC_BUCKETS_MS, not cumulative, and their sum in ms); 'r' src typ i and 'rs' src typ (run
-- times from the worker's STARTED to the result). metrics.lua returns the bounds, so they are
-- defined here only.
local METRIC_BUCKETS_MS = {100, 500, 1000, 5000, 15000, 30000, 60000, 120000, 300000, 600000,
  1800000, 3600000, 7200000, 14400000}

local function metric_field(...)
  return table.concat({...}, '\31')
end

-- The bucket of ms among bounds (#bounds + 1 past the last).
local function bucket(bounds, ms)
  for j, b in ipairs(bounds) do
    if ms <= b then
      return j
    end
  end
  return #bounds + 1
end

-- Counts one observation of ms into histogram h ('w' or 'r') of a task type.
local function observe(h, src, typ, ms)
  redis.call('HINCRBY', K.metrics, metric_field(h, src, typ, bucket(METRIC_BUCKETS_MS, ms)), 1)
  if ms > 0 then
    redis.call('HINCRBY', K.metrics, metric_field(h .. 's', src, typ), ms)
  end
end

-- Slot refill latency: from a slot freeing while a task was ready to take it, to a task
-- taking a slot. release_slot appends the time of such a free to K.freed (oldest first; never
-- more entries than the limit), take_slot pops the oldest and counts it into 'f' i and 'fs'
-- (pool-wide, no labels), in finer buckets: a refill normally takes milliseconds. Nothing is
-- pending while nothing may start: the list is dropped when a free finds no ready task, and
-- by a pause.
local REFILL_BUCKETS_MS = {1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
  60000}

-- The last 24 hours, minute by minute, for the dashboard's charts and GET stats/: one hash
-- per minute, K.minute .. <minutes since the epoch>, kept 25 h. Counters, written where
-- things happen: 'st' starts, 'c' 'f' 'x' tasks completed, failed, cancelled, 'w' i the waits
-- of its starts by bucket of METRIC_BUCKETS_MS. Gauges, written by stats_sample.lua every few
-- seconds by every replica: 'r' running and 'q' queued (the last sample), 'rx' and 'qx' (the
-- highest), 'm' the limit.
local MINUTE_MS, MINUTE_KEEP_MS = 60000, 25 * 3600000

local function minute_key(now)
  return K.minute .. fmt(math.floor(now / MINUTE_MS))
end

-- Counts 1 into each of the current minute's fields named.
local function count_minute(now, ...)
  local k = minute_key(now)
  for _, field in ipairs({...}) do
    redis.call('HINCRBY', k, field, 1)
  end
  redis.call('PEXPIRE', k, MINUTE_KEEP_MS)
end

local function observe_refill(now)
  local freed = redis.call('LPOP', K.freed)
  if freed then
    local ms = math.max(0, now - tonumber(freed))
    redis.call('HINCRBY', K.metrics, metric_field('f', bucket(REFILL_BUCKETS_MS, ms)), 1)
    if ms > 0 then
      redis.call('HINCRBY', K.metrics, 'fs', ms)
    end
  end
end

-- --- Flow control ---------------------------------------------------------------------------
-- A queued task sits in the global queue (its position, the listings) and in its group's
-- queue, a group being a (source, sync type, tenant) triple (so the first queued task of a
-- group is also what deduplication looks for): K.ready indexes the groups whose head may
-- start, scored by that head's score, so the next task to start is the head of the first
-- ready group. A group found blocked (its source paused, cooling down, out of rate budget or
-- at its limit, or its tenant at its limit) is parked: it leaves K.ready and costs nothing
-- until something that could unblock it happens (a slot of its source frees, a rule changes,
-- a resume, or the time in K.wake comes). Every rule is checked here, in blocked(), by the
-- same scripts that take slots; the listings explain a wait with the same function.

-- Source, type and tenant are joined by a control character, which none may contain.
local GSEP = '\31'

local function group_of(src, typ, tn)
  return src .. GSEP .. typ .. GSEP .. (tn or '')
end

-- Returns source, sync type, tenant.
local function split_group(g)
  local i = string.find(g, GSEP, 1, true)
  local j = string.find(g, GSEP, i + 1, true)
  return string.sub(g, 1, i - 1), string.sub(g, i + 1, j - 1), string.sub(g, j + 1)
end

-- A tenant of a source: what its per-tenant limit counts.
local function tenant_of(src, tn)
  return src .. GSEP .. tn
end

local function gqueue(g)
  return P .. 'q:' .. g
end

local function groups_of(src)
  return P .. 'groups:' .. src
end

local function run_src(src)
  return P .. 'run:s:' .. src
end

local function run_tenant(src, tn)
  return P .. 'run:t:' .. tenant_of(src, tn)
end

local function rate_log(src)
  return P .. 'rate:' .. src
end

-- The run times of a task type's last DURATIONS_KEPT runs (ms, newest first): what the
-- estimates of start and finish times go on.
local DURATIONS_KEPT = 100
local function durations_key(src, typ)
  return P .. 'dur:' .. src .. GSEP .. typ
end

-- The parked groups of a source: what a free slot of it, a rule change or a resume wakes.
local function parked_of(src)
  return P .. 'parked:' .. src
end

-- A source's rules and state, from one HMGET of K.rules (remembered for the rest of the
-- script: nothing changes them meanwhile but the scripts that set them): its limit, its
-- per-tenant limit, its rate budget (starts, window ms), whether it is paused, and the end of
-- its cool-down (ms, 0 when none). Fields: 's:', 't:', 'r:' ('<starts>/<window ms>'), 'p:'
-- (paused since) and 'c:' (cooling until), then the source; 'x:' the length of its last
-- automatic cool-down; 'p:*' the pool's pause.
local RULES = {}
local function rules_of(src)
  local r = RULES[src]
  if not r then
    local f = redis.call('HMGET', K.rules, 's:' .. src, 't:' .. src, 'r:' .. src, 'p:' .. src,
      'c:' .. src)
    local starts, win = nil, nil
    if f[3] then
      starts, win = string.match(f[3], '^(%d+)/(%d+)$')
    end
    r = {limit = tonumber(f[1]), tlimit = tonumber(f[2]), starts = tonumber(starts),
      win = tonumber(win), paused = f[4] and true or false, cool = tonumber(f[5] or '0')}
    RULES[src] = r
  end
  return r
end

-- Why the next task of a group of source src and tenant tn cannot start now, and until when
-- for the blocks that end by themselves; nil when it may. plan: starts this call has already
-- planned but not made (peek), or nil.
local function blocked(src, tn, now, plan)
  local r = rules_of(src)
  if r.paused then
    return 'paused', nil
  end
  if r.cool > now then
    return 'cooldown', r.cool
  end
  local ps, pt = 0, 0
  if plan then
    ps, pt = plan.src[src] or 0, plan.tn[tenant_of(src, tn)] or 0
  end
  if r.starts then
    -- The log holds the starts since it was last pruned: it is pruned to the window only when
    -- it could be full, so it never grows much past the budget, and a start under the budget
    -- costs one ZCARD.
    local log = rate_log(src)
    if redis.call('ZCARD', log) + ps >= r.starts then
      redis.call('ZREMRANGEBYSCORE', log, '-inf', fmt(now - r.win))
      if redis.call('ZCARD', log) + ps >= r.starts then
        local first = redis.call('ZRANGE', log, 0, 0, 'WITHSCORES')
        local free_at = first[2] and (tonumber(first[2]) + r.win) or (now + r.win)
        return 'rate_limit', free_at
      end
    end
  end
  if r.limit and redis.call('SCARD', run_src(src)) + ps >= r.limit then
    return 'source_limit', nil
  end
  if r.tlimit and tn ~= '' and redis.call('SCARD', run_tenant(src, tn)) + pt >= r.tlimit then
    return 'tenant_limit', nil
  end
  return nil, nil
end

local function pool_paused()
  return redis.call('HEXISTS', K.rules, 'p:*') == 1
end

-- After a change to a group's queue: its entry in K.ready follows its head (or it goes).
local function refresh_group(g)
  local head = redis.call('ZRANGE', gqueue(g), 0, 0, 'WITHSCORES')
  if #head == 0 then
    local src = split_group(g)
    redis.call('ZREM', K.ready, g)
    redis.call('HDEL', K.parked, g)
    redis.call('SREM', parked_of(src), g)
    redis.call('ZREM', K.wake, g)
    redis.call('SREM', groups_of(src), g)
  elseif redis.call('HEXISTS', K.parked, g) == 0 then
    redis.call('ZADD', K.ready, head[2], g)
  end
end

-- Puts a task in the queue (global and group) with its score.
local function enqueue(id, src, typ, tn, score)
  local g = group_of(src, typ, tn)
  redis.call('ZADD', K.queue, fmt(score), id)
  redis.call('ZADD', gqueue(g), fmt(score), id)
  redis.call('SADD', groups_of(src), g)
  redis.call('SADD', K.sources, src)
  refresh_group(g)
end

-- Takes a task out of the queue (global and group).
local function dequeue(id, src, typ, tn)
  local g = group_of(src, typ, tn)
  redis.call('ZREM', K.queue, id)
  redis.call('ZREM', gqueue(g), id)
  refresh_group(g)
end

local function park(g, why, until_ms)
  local head = redis.call('ZRANGE', gqueue(g), 0, 0)[1]
  if head then
    note(tkey(head), 'w', why, now_ms())
  end
  redis.call('ZREM', K.ready, g)
  redis.call('HSET', K.parked, g, why)
  redis.call('SADD', parked_of(split_group(g)), g)
  if until_ms then
    redis.call('ZADD', K.wake, fmt(until_ms), g)
  end
end

local function unpark(g)
  redis.call('HDEL', K.parked, g)
  redis.call('SREM', parked_of(split_group(g)), g)
  redis.call('ZREM', K.wake, g)
  refresh_group(g)
end

-- Unparks the groups of a source parked for `why` (every reason when nil): a rule changed, a
-- slot of the source freed, or it resumed.
local function unpark_source(src, why)
  for _, g in ipairs(redis.call('SMEMBERS', parked_of(src))) do
    local reason = redis.call('HGET', K.parked, g)
    if reason and (not why or reason == why) then
      unpark(g)
    end
  end
end

-- The next task that may start, in priority-then-arrival order among the groups that are not
-- blocked: parks every blocked group it meets, wakes the ones whose time has come. Returns
-- the task id and its group, or nil.
local function next_ready(now)
  for _, g in ipairs(redis.call('ZRANGEBYSCORE', K.wake, '-inf', fmt(now))) do
    unpark(g)
  end
  while true do
    local head = redis.call('ZRANGE', K.ready, 0, 0)
    if #head == 0 then
      return nil, nil
    end
    local g = head[1]
    local src, _, tn = split_group(g)
    local why, until_ms = blocked(src, tn, now, nil)
    if not why then
      return redis.call('ZRANGE', gqueue(g), 0, 0)[1], g
    end
    park(g, why, until_ms)
  end
end

-- Up to n tasks in the order admit() will take them, as far as the state now tells (peek and
-- the refill a completion prepares): the heads of the ready groups, taking several from a
-- group while its rules leave room, counting what it has planned. Read-only, except that it
-- wakes the groups whose time has come. Returns {{id, group}, ...}.
local function plan_next(n, now)
  for _, g in ipairs(redis.call('ZRANGEBYSCORE', K.wake, '-inf', fmt(now))) do
    unpark(g)
  end
  local out = {}
  local plan = {src = {}, tn = {}}
  local seen = {}      -- group -> {idx = next index in its queue, score = that task's score}
  local cursor = 0     -- the next group of K.ready not looked at yet
  while #out < n do
    local best, best_score = nil, nil
    for g, s in pairs(seen) do
      if s.score and (not best_score or s.score < best_score) then
        best, best_score = g, s.score
      end
    end
    local nxt = redis.call('ZRANGE', K.ready, cursor, cursor, 'WITHSCORES')
    if #nxt > 0 and (not best_score or tonumber(nxt[2]) < best_score) then
      best = nxt[1]
      seen[best] = {idx = 0, score = tonumber(nxt[2])}
      cursor = cursor + 1
    end
    if not best then
      break
    end
    local s = seen[best]
    local src, _, tn = split_group(best)
    if blocked(src, tn, now, plan) then
      s.score = nil
    else
      local item = redis.call('ZRANGE', gqueue(best), s.idx, s.idx)
      table.insert(out, {item[1], best})
      plan.src[src] = (plan.src[src] or 0) + 1
      local tk = tenant_of(src, tn)
      plan.tn[tk] = (plan.tn[tk] or 0) + 1
      s.idx = s.idx + 1
      local after = redis.call('ZRANGE', gqueue(best), s.idx, s.idx, 'WITHSCORES')
      s.score = after[2] and tonumber(after[2]) or nil
    end
  end
  return out
end

-- Takes a slot for a task (a queued one already out of the queue, or a new one): the one
-- place a task starts running. It joins the running set and its source's and tenant's,
-- counts against its source's rate budget, and (inline) its message is pushed to the broker
-- list in the same step. `new_fields`: a new task's own fields, written in the same HSET (its
-- attempt count is 1); otherwise the attempt count is incremented. Returns the fencing token.
local function take_slot(t, id, src, typ, tn, created, seq, cid, msg, list, tag, inline, now,
    new_fields)
  local tok = redis.call('INCR', K.token)
  local waited = now - tonumber(created)
  observe('w', src, typ, waited)
  count_minute(now, 'st', 'w' .. bucket(METRIC_BUCKETS_MS, waited))
  observe_refill(now)
  redis.call('ZADD', K.running, fmt(tok), id)
  redis.call('SADD', run_src(src), id)
  if tn ~= '' then
    redis.call('SADD', run_tenant(src, tn), id)
  end
  if rules_of(src).starts then
    redis.call('ZADD', rate_log(src), fmt(now), id .. ':' .. fmt(tok))
  end
  -- 'mx': the limit in force at this dispatch, what its STARTED is judged against (started.lua).
  local f = {'st', 'running', 'sa', fmt(now), 'tok', fmt(tok), 'cid', cid,
    'bl', list, 'dt', tag, 'pub', inline and '1' or '0', 'seq', fmt(seq), 'mx', fmt(max_workers())}
  redis.call('SET', msg_key(t), msg)
  if new_fields then
    for _, v in ipairs(new_fields) do
      table.insert(f, v)
    end
    table.insert(f, 'att')
    table.insert(f, '1')
  else
    redis.call('HINCRBY', t, 'att', 1)
  end
  redis.call('HSET', t, unpack(f))
  if inline then
    redis.call('LPUSH', list, msg)
  end
  return tok
end

-- Frees a running task's slot: it leaves the running set and its source's and tenant's (and
-- K.started), and the groups that were waiting for that room may start again. `src` and
-- `tn`: the task's source and tenant when the caller has read them already (else nil);
-- `started`: false when the caller knows no worker reported it STARTED. Returns its source.
local function release_slot(id, t, src, tn, started)
  redis.call('ZREM', K.running, id)
  if started ~= false then
    redis.call('SREM', K.started, id)
  end
  if not src then
    local f = redis.call('HMGET', t, 'src', 'tn')
    src, tn = f[1] or '', f[2] or ''
  end
  tn = tn or ''
  redis.call('SREM', run_src(src), id)
  if tn ~= '' then
    redis.call('SREM', run_tenant(src, tn), id)
  end
  -- Wake what waited for this room: its source's groups held by the source's limit, and its
  -- tenant's groups if the tenant's limit held them.
  for _, pg in ipairs(redis.call('SMEMBERS', parked_of(src))) do
    local why = redis.call('HGET', K.parked, pg)
    if why == 'source_limit' or (why == 'tenant_limit' and tn ~= ''
        and select(3, split_group(pg)) == tn) then
      unpark(pg)
    end
  end
  -- Refill latency (see observe_refill): this free counts if a task may take the slot now.
  local max = max_workers()
  if redis.call('ZCARD', K.running) < max and not pool_paused() then
    local now = now_ms()
    if next_ready(now) then
      redis.call('RPUSH', K.freed, fmt(now))
      redis.call('LTRIM', K.freed, 0, max - 1)
    else
      redis.call('DEL', K.freed)
    end
  end
  return src
end

-- Moves the prepared candidates (groups of 5 in `args` from index i: id, celery id, message,
-- broker list, delivery tag) into slots, in order, while each is the next task that may start
-- and a slot is free: what dispatch.lua and finish.lua's refill share. Returns the reason it
-- stopped ('done', 'full', 'moved', 'paused') and {{id, token}, ...}.
local function admit(args, i, inline, now)
  local out = {}
  local max = max_workers()
  while i + 4 <= #args do
    local id, cid, msg, list, tag = args[i], args[i + 1], args[i + 2], args[i + 3], args[i + 4]
    i = i + 5
    if pool_paused() then
      return 'paused', out
    end
    if redis.call('ZCARD', K.running) >= max then
      return 'full', out
    end
    if next_ready(now) ~= id then
      return 'moved', out
    end
    local t = tkey(id)
    local f = redis.call('HMGET', t, 'st', 'src', 'tn', 'typ', 'ct')
    local seq = seq_of(t, redis.call('ZSCORE', K.queue, id))
    dequeue(id, f[2] or '', f[4] or '', f[3] or '')
    if f[1] == 'queued' then
      local tok = take_slot(t, id, f[2], f[4] or '', f[3] or '', f[5] or now, seq, cid, msg,
        list, tag, inline, now)
      table.insert(out, {id, fmt(tok)})
    end
    -- A queue entry without a queued task (expired or corrupted hash) is dropped, never run.
  end
  return 'done', out
end

-- The candidates plan_next() names, with what a message needs: {id, name ('' when it is
-- <crm_source>.<sync_type>), parameters, attempts so far, crm_source, sync_type}.
local function candidates(n, now)
  local out = {}
  for _, c in ipairs(plan_next(n, now)) do
    local h = redis.call('HMGET', tkey(c[1]), 'name', 'par', 'att', 'src', 'typ')
    table.insert(out, {c[1], h[1] or '', h[2] or '', h[3] or '0', h[4] or '', h[5] or ''})
  end
  return out
end

-- A source's use, rules and state, as snapshot.lua and metrics.lua report it: {source,
-- running, queued, limit, tenant limit, rate starts, rate window ms, rate starts used in the
-- window, cooling until ms, paused (0/1), {the times of those starts (ms), oldest first}};
-- '' for a rule it does not have.
local function source_row(src, now)
  local queued = 0
  for _, g in ipairs(redis.call('SMEMBERS', groups_of(src))) do
    queued = queued + redis.call('ZCARD', gqueue(g))
  end
  local r = rules_of(src)
  local starts = {}
  if r.starts then
    local log = redis.call('ZRANGEBYSCORE', rate_log(src), '(' .. fmt(now - r.win), '+inf',
      'WITHSCORES')
    for j = 2, #log, 2 do
      table.insert(starts, log[j])
    end
  end
  local opt = function(n) return n and fmt(n) or '' end
  return {src, redis.call('SCARD', run_src(src)), queued, opt(r.limit), opt(r.tlimit),
    opt(r.starts), opt(r.win), #starts, r.cool > now and fmt(r.cool) or '',
    r.paused and 1 or 0, starts}
end

-- Why a queued task waits: a rule of its group (the same blocked() that admission uses), the
-- pool's pause or global limit, or 'queue' (it may start, behind others).
local function blocked_by(src, typ, tn, now)
  if pool_paused() then
    return 'paused'
  end
  local g = group_of(src, typ, tn)
  local why = redis.call('HGET', K.parked, g) or blocked(src, tn, now, nil)
  if why then
    return why
  end
  if redis.call('ZCARD', K.running) >= max_workers() then
    return 'global_limit'
  end
  return 'queue'
end

-- Ends a running or queued task: the single place a task becomes terminal.
-- t: the task's hash; status: completed | failed | cancelled; src, typ: its source and type
-- when the caller has read them (else nil).
local function make_terminal(t, id, status, err, retention_ms, now, src, typ)
  if not src then
    local h = redis.call('HMGET', t, 'src', 'typ')
    src, typ = h[1] or '', h[2] or ''
  end
  redis.call('HINCRBY', K.metrics, metric_field('end', src, typ, status), 1)
  count_minute(now, status == 'completed' and 'c' or (status == 'failed' and 'f' or 'x'))
  if hooks_on() then
    hook_event('task.finished', id, '', now)
  end
  if err ~= nil and err ~= '' then
    redis.call('HSET', t, 'st', status, 'fa', fmt(now), 'err', err)
  else
    redis.call('HSET', t, 'st', status, 'fa', fmt(now))
  end
  redis.call('HDEL', t, 'bl', 'dt', 'pub', 'cr', 'lsa', 'tl')
  redis.call('DEL', msg_key(t))
  redis.call('ZADD', K.finished, fmt(now), id)
  redis.call('PEXPIRE', t, retention_ms)
  redis.call('PEXPIRE', log_key(t), retention_ms)
  -- (The index entries of expired tasks are pruned by Store::prune_finished, periodically:
  -- off the hot path, and readers skip them meanwhile.)
end

-- Takes a running task's slot back from a worker that is gone (reap.lua, orphan.lua): its
-- message leaves kombu's unacked set (inline) so it never runs again outside the pool's
-- count, its Celery id joins the superseded ones, and the task ends cancelled (a cancel was
-- pending), goes back to the queue in its place (policy 'requeue') or ends failed. f: the
-- task's fields 'wk', 'ws', 'dt', 'cr', 'pri', 'seq', 'cid', 'ct', in that order. kind: the
-- reason's kind, counted for GET /metrics. Returns the outcome and the delivery tag.
local function reclaim(t, id, f, reason, kind, policy, retention_ms, inline, superseded_ms, now)
  redis.call('HINCRBY', K.stats, 'reclaimed:' .. kind, 1)
  local tag = f[3] or ''
  if inline then
    forget_unacked(tag)
  end
  -- Whatever becomes of the task, this dispatch no longer holds a slot: a copy of its message
  -- (a broker's redelivery) must not run, and a worker that starts later is told so.
  if f[7] then
    redis.call('ZADD', K.superseded, fmt(now), f[7])
    redis.call('ZREMRANGEBYSCORE', K.superseded, '-inf', '(' .. fmt(now - superseded_ms))
  end
  release_slot(id, t)
  if f[4] then
    make_terminal(t, id, 'cancelled', reason, retention_ms, now)
    return 'cancelled', tag
  end
  if policy == 'requeue' then
    redis.call('HDEL', t, 'sa', 'tok', 'cid', 'bl', 'dt', 'pub', 'wk', 'ws', 'wpid', 'lsa', 'tl')
    redis.call('DEL', msg_key(t))
    redis.call('HSET', t, 'st', 'queued')
    note(t, 'q', reason, now)
    if aging_ms() == 0 then
      -- (The seq lives in the score again; with aging it stays in the hash.)
      redis.call('HDEL', t, 'seq')
    end
    local h = redis.call('HMGET', t, 'src', 'tn', 'typ')
    enqueue(id, h[1] or '', h[3] or '', h[2] or '', queue_score(f[5], f[6], f[8]))
    return 'requeued', tag
  end
  make_terminal(t, id, 'failed', reason, retention_ms, now)
  return 'failed', tag
end
