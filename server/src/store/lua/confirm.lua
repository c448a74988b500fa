-- confirm: records that a dispatch's message reached the broker (two-phase mode only).
-- KEYS[1] the pool's prefix
-- ARGV[1] id   ARGV[2] fencing token of the dispatch
-- Returns 1 when recorded, 0 when the dispatch is no longer current.
local t = tkey(ARGV[1])
if redis.call('HGET', t, 'st') == 'running' and redis.call('HGET', t, 'tok') == ARGV[2] then
  redis.call('HSET', t, 'pub', '1')
  return 1
end
return 0
