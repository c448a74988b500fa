-- Helpers prepended to every script (see store/scripts.rs). Not a script on its own.
--
-- Numbers: Lua's tostring() keeps only 14 significant digits, so every number written to Redis
-- goes through fmt(), which prints integers exactly (all ours are below 2^53).

local function fmt(n)
  return string.format('%.0f', n)
end

-- Milliseconds since the epoch, from the Redis server's clock: one clock for every replica.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The queue score: higher priority first, then arrival order (seq). priority is -100..100,
-- seq < 2^44, so the score stays below 2^53 and exact. A queued task's seq lives only in its
-- score (a million queued tasks each save the field); it is copied to the hash at dispatch,
-- for a requeue.
local SEQ_SPAN = 17592186044416
local function queue_score(priority, seq)
  return (100 - tonumber(priority)) * SEQ_SPAN + tonumber(seq)
end

local function seq_of_score(score)
  return tonumber(score) % SEQ_SPAN
end

-- A running task's Celery message lives beside its hash, under <task key>:msg: a 1 KB value
-- inside the hash would turn Redis' compact encoding of every running task's hash into a
-- full hash table.
local function msg_key(tkey)
  return tkey .. ':msg'
end

-- Takes a slot for a task (a queued one already removed from the queue, or a new one): the
-- one place a task starts running. Inline, its message is pushed to the broker list in the
-- same step. `new_fields`: a new task's own fields, written in the same HSET (its attempt
-- count is 1); otherwise the attempt count is incremented. Returns the fencing token.
local function take_slot(tkey, id, seq, cid, msg, list, tag, inline, running_key, token_key, now, new_fields)
  local tok = redis.call('INCR', token_key)
  redis.call('ZADD', running_key, fmt(tok), id)
  local f = {'st', 'running', 'sa', fmt(now), 'tok', fmt(tok), 'cid', cid,
    'bl', list, 'dt', tag, 'pub', inline and '1' or '0', 'seq', fmt(seq)}
  redis.call('SET', msg_key(tkey), msg)
  if new_fields then
    for _, v in ipairs(new_fields) do
      table.insert(f, v)
    end
    table.insert(f, 'att')
    table.insert(f, '1')
  else
    redis.call('HINCRBY', tkey, 'att', 1)
  end
  redis.call('HSET', tkey, unpack(f))
  if inline then
    redis.call('LPUSH', list, msg)
  end
  return tok
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

-- Ends a running or queued task: the single place a task becomes terminal.
-- tkey: the task's hash; status: completed | failed | cancelled.
local function make_terminal(tkey, id, status, err, finished_key, retention_ms, now)
  if err ~= nil and err ~= '' then
    redis.call('HSET', tkey, 'st', status, 'fa', fmt(now), 'err', err)
  else
    redis.call('HSET', tkey, 'st', status, 'fa', fmt(now))
  end
  redis.call('HDEL', tkey, 'bl', 'dt', 'pub', 'cr', 'lsa')
  redis.call('DEL', msg_key(tkey))
  redis.call('ZADD', finished_key, fmt(now), id)
  redis.call('PEXPIRE', tkey, retention_ms)
  -- (The index entries of expired tasks are pruned by Store::prune_finished, periodically:
  -- off the hot path, and readers skip them meanwhile.)
end
