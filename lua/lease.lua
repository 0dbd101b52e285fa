-- uses: util
-- lease: take or renew a named lease (the active health probe runs on one replica at a time).
-- Taken if free (SET NX PX semantics) or renewed if already held by the same holder.
-- KEYS: 1 lease   ARGV: 1 holder, 2 ttl_ms   Returns 1 if `holder` holds it now, else 0

if #KEYS ~= 1 or #ARGV ~= 2 then error('ERR wrong number of keys or arguments') end
local holder = str_arg(ARGV[1], 'holder')
local ttl = int_arg(ARGV[2], 'ttl_ms', 1)
local cur = redis.call('GET', KEYS[1])
if cur == holder then
  redis.call('PEXPIRE', KEYS[1], ttl)
  return 1
end
if not cur then
  redis.call('SET', KEYS[1], holder, 'PX', ttl)
  return 1
end
return 0
