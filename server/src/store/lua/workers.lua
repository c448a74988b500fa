-- workers: the Celery workers the pool has heard from, with their state (worker_state in
-- common.lua) and the pool's tasks each runs. Read-only.
-- KEYS[1] the pool's prefix
-- ARGV[1] heartbeat timeout ms
-- Returns {now ms, {{hostname, state, last heard ms | '', pid | '', first heard ms | '',
--   last offline ms | '', {task id, ...}}, ...}}, by hostname.
local now = now_ms()
local timeout = tonumber(ARGV[1])
local tasks = {}
for _, id in ipairs(redis.call('ZRANGE', K.running, 0, -1)) do
  local wk = redis.call('HGET', tkey(id), 'wk')
  if wk then
    tasks[wk] = tasks[wk] or {}
    table.insert(tasks[wk], id)
  end
end
local out = {}
for _, host in ipairs(worker_hosts()) do
  local proc = redis.call('HGET', K.proc, host)
  local off = redis.call('HGET', K.offline, host)
  table.insert(out, {host, worker_state(host, now, timeout) or 'lost',
    redis.call('HGET', K.seen, host) or '', proc and string.match(proc, '^([^:]*):') or '',
    redis.call('HGET', K.first, host) or '', off and string.match(off, '^(%d+)') or '',
    tasks[host] or {}})
end
return {fmt(now), out}
