-- confirm: records that a dispatch's message reached the broker (two-phase mode only).
-- KEYS[1] the task's hash
-- ARGV[1] fencing token of the dispatch
-- Returns 1 when recorded, 0 when the dispatch is no longer current.
if redis.call('HGET', KEYS[1], 'st') == 'running' and redis.call('HGET', KEYS[1], 'tok') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'pub', '1')
  return 1
end
return 0
