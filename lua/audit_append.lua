-- uses: util
-- audit_append: append one admin change that no single script can make to the audit stream
-- (a response-cache flush UNLINKs entries spread over every master of a cluster, in batches,
-- from gateway/state/cache_admin.py; the entry says what it dropped once it is done). Same
-- fields and clock as the entries key_write.lua and team_write.lua append.
-- KEYS: 1 audit stream
-- ARGV: 1 op (cache.flush), 2 actor, 3 id (what it applied to), 4 before JSON, 5 after JSON,
--       6 audit_maxlen
-- Returns {entry id, now_us (string)}

if #KEYS ~= 1 or #ARGV ~= 6 then error('ERR wrong number of keys or arguments') end
local op = enum_arg(ARGV[1], 'op', { 'cache.flush' })
local actor, id = str_arg(ARGV[2], 'actor'), str_arg(ARGV[3], 'id')
local before, after = str_arg(ARGV[4], 'before'), str_arg(ARGV[5], 'after')
local maxlen = int_arg(ARGV[6], 'audit_maxlen', 1)
local now = now_us()
local entry = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'ts_us', fmt(now), 'actor', actor,
  'op', op, 'id', id, 'before', before, 'after', after)
return { entry, fmt(now) }
