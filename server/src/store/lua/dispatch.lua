-- dispatch: moves queued tasks into free slots, strictly in queue order, and (inline mode)
-- pushes each one's Celery message to the broker list in the same atomic step.
-- KEYS[1] config   KEYS[2] running (ZSET id -> fencing token)   KEYS[3] queue   KEYS[4] task prefix
-- KEYS[5] token counter   KEYS[6] events channel
-- ARGV[1] inline (1: LPUSH here; 0: the caller publishes, then confirms)
-- ARGV[2..] groups of 5: id, celery id, message, broker list, delivery tag
-- Stops at the first candidate that is no longer the head of the queue, or when no slot is free.
-- Returns {reason, {id, token}, ...}; reason is 'done', 'full' or 'moved'.
if (#ARGV - 1) % 5 ~= 0 then
  return redis.error_reply('dispatch: candidates come in groups of 5')
end
local inline = ARGV[1] == '1'
local max = tonumber(redis.call('HGET', KEYS[1], 'max_workers') or '1')
local now = now_ms()
local out = {'done'}
local i = 2
while i + 4 <= #ARGV do
  local id, cid, msg, list, tag = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  i = i + 5
  if redis.call('ZCARD', KEYS[2]) >= max then
    out[1] = 'full'
    break
  end
  local head = redis.call('ZRANGE', KEYS[3], 0, 0)
  if head[1] ~= id then
    out[1] = 'moved'
    break
  end
  local tkey = KEYS[4] .. id
  local seq = seq_of_score(redis.call('ZSCORE', KEYS[3], id))
  redis.call('ZREM', KEYS[3], id)
  if redis.call('HGET', tkey, 'st') == 'queued' then
    local tok = take_slot(tkey, id, seq, cid, msg, list, tag, inline, KEYS[2], KEYS[5], now)
    table.insert(out, {id, fmt(tok)})
  end
  -- A queue entry without a queued task (expired or corrupted hash) is dropped, never run.
end
if #out > 1 then
  redis.call('PUBLISH', KEYS[6], 'dispatch')
end
return out
