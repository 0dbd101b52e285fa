-- uses: util
-- cache_put: keep one answer of the exact-match response cache (gateway/pipeline/cache.py)
-- under the key its request hashes to, replacing what was there. It is served until `ttl_ms`
-- after this write (engine clock, `exp` in µs, checked by cache_get.lua); the key itself goes a
-- second later, so the engine's own expiry never decides a lookup. An answer over `max_bytes`
-- is not kept (and nothing is written).
-- KEYS: 1 the entry (HASH: body, exp)
-- ARGV: 1 answer JSON, 2 ttl_ms, 3 max_bytes
-- Returns {stored 0|1, reason ('' | too_large), now_us (string)}

if #KEYS ~= 1 or #ARGV ~= 3 then error('ERR wrong number of keys or arguments') end
local body = str_arg(ARGV[1], 'body')
local ttl = int_arg(ARGV[2], 'ttl_ms', 1)
local max_bytes = int_arg(ARGV[3], 'max_bytes', 1)
local now = now_us()
if #body > max_bytes then return { 0, 'too_large', fmt(now) } end
redis.call('HSET', KEYS[1], 'body', body, 'exp', fmt(now + ttl * 1000))
redis.call('PEXPIRE', KEYS[1], ttl + 1000)
return { 1, '', fmt(now) }
