-- audit: appends one change to the audit trail, a stream (<prefix>:audit) whose ids are the
-- Redis clock's milliseconds, and drops what is older than the retention or past the cap.
-- KEYS[1] the pool's prefix
-- ARGV[1] retention ms   ARGV[2] the most entries kept
-- ARGV[3] who   ARGV[4] the client's address   ARGV[5] action   ARGV[6] target
-- ARGV[7] before (JSON)   ARGV[8] after (JSON)
-- Returns the entry's id.
local key = P .. 'audit'
local now = now_ms()
local id = redis.call('XADD', key, 'MINID', '~', fmt(now - tonumber(ARGV[1])), '*',
  'who', ARGV[3], 'addr', ARGV[4], 'action', ARGV[5], 'target', ARGV[6],
  'before', ARGV[7], 'after', ARGV[8])
redis.call('XTRIM', key, 'MAXLEN', '~', ARGV[2])
return id
