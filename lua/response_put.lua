-- uses: util
-- response_put: keep one answered Responses API turn (the conversation so far, as JSON) so a
-- later request of the same API key can continue it with `previous_response_id`. Each key has
-- its own two keys below (a key never reads another's); an entry expires `ttl_ms` after it was
-- written; an entry over `max_entry` bytes is not kept; the key's oldest entries are evicted
-- while a new one would take the key past `max_key` bytes (at most 64 per call).
-- KEYS: 1 the key's entries (HASH id -> JSON, and '#bytes': their total size)
--       2 their expiry (ZSET id scored by expiry µs, engine clock)
-- ARGV: 1 id, 2 conversation JSON, 3 ttl_ms, 4 max_entry bytes, 5 max_key bytes
-- Returns {stored 0|1, reason ('' | too_large | key_full), bytes kept for the key, entries evicted,
--          now_us (string)}

if #KEYS ~= 2 or #ARGV ~= 5 then error('ERR wrong number of keys or arguments') end
local id = str_arg(ARGV[1], 'id')
local data = str_arg(ARGV[2], 'data')
local ttl = int_arg(ARGV[3], 'ttl_ms', 1)
local max_entry = int_arg(ARGV[4], 'max_entry', 1)
local max_key = int_arg(ARGV[5], 'max_key', 1)
if id == '#bytes' then error('ERR bad string argument id') end
local now = now_us()
local total = tonumber(redis.call('HGET', KEYS[1], '#bytes') or '0')
local evicted, dropped = 0, 0

-- Drop one entry, counting its bytes out.
local function drop(victim)
  total = total - redis.call('HSTRLEN', KEYS[1], victim)
  redis.call('HDEL', KEYS[1], victim)
  redis.call('ZREM', KEYS[2], victim)
  dropped = dropped + 1
end

-- A refusal keeps what it dropped counted (the hash exists then, with its expiry: a refusal
-- never creates a key).
local function refuse(reason)
  if dropped > 0 then redis.call('HSET', KEYS[1], '#bytes', fmt(total)) end
  return { 0, reason, total, evicted, fmt(now) }
end

-- Expired entries first (bounded: the rest go on later calls or with the keys' own expiry).
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 16)) do
  drop(old)
end
if #data > max_entry then return refuse('too_large') end
if redis.call('ZSCORE', KEYS[2], id) then drop(id) end  -- the same id again: replaced
-- Then the oldest (lowest expiry; ties by id, as ZRANGE orders them) while the new one does not fit.
while total + #data > max_key do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not oldest or evicted == 64 then return refuse('key_full') end
  drop(oldest)
  evicted = evicted + 1
end
total = total + #data
redis.call('HSET', KEYS[1], id, data, '#bytes', fmt(total))
redis.call('ZADD', KEYS[2], now + ttl * 1000, id)
-- both keys live as long as their newest entry
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return { 1, '', total, evicted, fmt(now) }
