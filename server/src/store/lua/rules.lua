-- rules: changes the flow-control rules of sources, all in one step. The groups of a changed
-- source are unparked: the next admission judges them by the new rules.
-- KEYS[1] the pool's prefix (it writes the 's:', 't:' and 'r:' fields of K.rules)
-- ARGV[1] '1': only seed an empty store (nothing happens once rules were ever set or seeded)
-- ARGV[2..] groups of 3: source, rule ('s' limit | 't' per-tenant limit | 'r' rate budget),
--           value ('' removes it; a limit is a number; a rate is '<starts>/<window ms>')
-- Returns 1 when applied, 0 when a seed found the store already seeded.
if (#ARGV - 1) % 3 ~= 0 then
  return redis.error_reply('rules: changes come in groups of 3')
end
if redis.call('HSETNX', K.config, 'rules_set', '1') == 0 and ARGV[1] == '1' then
  return 0
end
for i = 2, #ARGV, 3 do
  local src, rule, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if value == '' then
    redis.call('HDEL', K.rules, rule .. ':' .. src)
  else
    redis.call('HSET', K.rules, rule .. ':' .. src, value)
  end
  redis.call('SADD', K.sources, src)
  unpark_source(src, nil)
end
redis.call('PUBLISH', K.events, 'rules')
return 1
