-- uses: util
-- cache_get: a cached answer (lua/cache_put.lua), if it has not expired. Read-only; under the
-- engine's clock, so every replica stops serving an entry at the same moment.
-- KEYS: 1 the entry (HASH: body, exp)   ARGV: none
-- Returns {the answer's JSON (nil when absent or expired), now_us (string)}

if #KEYS ~= 1 or #ARGV ~= 0 then error('ERR wrong number of keys or arguments') end
local now = now_us()
local entry = redis.call('HMGET', KEYS[1], 'body', 'exp')
if not entry[1] or not entry[2] or tonumber(entry[2]) <= now then return { false, fmt(now) } end
return { entry[1], fmt(now) }
