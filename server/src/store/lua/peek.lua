-- peek: how many slots are free, and the queued tasks that would take them, in the order
-- dispatch.lua takes them (see plan_next in common.lua).
-- KEYS[1] the pool's prefix
-- ARGV[1] the most candidates to return
-- Returns {free, {id, task_name ('' when it is <crm_source>.<sync_type>), parameters,
-- attempts so far, crm_source, sync_type}, ...}. Changes nothing but waking the groups whose
-- time-based block has ended.
local free = max_workers() - redis.call('ZCARD', K.running)
if free <= 0 or pool_paused() then
  return {0}
end
local out = {free}
for _, c in ipairs(candidates(math.min(free, tonumber(ARGV[1])), now_ms())) do
  table.insert(out, c)
end
return out
