-- uses: util
-- response_get: an API key's stored Responses turn (lua/response_put.lua), if it has not
-- expired. Read-only; under the engine's clock, so every replica sees an entry expire at once.
-- KEYS: 1 the key's entries (HASH), 2 their expiry (ZSET)   ARGV: 1 id
-- Returns {the conversation JSON (nil when absent or expired), now_us (string)}

if #KEYS ~= 2 or #ARGV ~= 1 then error('ERR wrong number of keys or arguments') end
local id = str_arg(ARGV[1], 'id')
local now = now_us()
local expiry = id ~= '#bytes' and redis.call('ZSCORE', KEYS[2], id)
if not expiry or tonumber(expiry) <= now then return { false, fmt(now) } end
return { redis.call('HGET', KEYS[1], id), fmt(now) }
