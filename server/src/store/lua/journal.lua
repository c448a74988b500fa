-- journal: a task's notes, oldest first, and its traceback (see log_key in common.lua).
-- KEYS[1] the pool's prefix
-- ARGV[1] id
-- Returns {{'<ms> <kind> <detail>', ...}, traceback or ''}
local t = tkey(ARGV[1])
return {redis.call('LRANGE', log_key(t), 0, -1), redis.call('GET', tb_key(t)) or ''}
