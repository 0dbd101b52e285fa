-- uses: util batch
-- batch_record: one line's result, kept once: a second result for the same line (a chunk
-- re-claimed after its lease ran out, its first worker still alive) is ignored, so the counts
-- and files hold each line exactly once. With its chunk named, the chunk's lease is renewed, or
-- dropped with its `last` line. Then the batch ends if this was what it waited for.
-- KEYS: the batch's six (lib/batch.lua)
-- ARGV: 1 batch id, 2 line index, 3 kind ('ok': a 2xx answer, 'err': anything else),
--       4 the output line (JSON), 5 chunk ('a:b' or '-'), 6 last of its chunk (0|1), 7 lease_ms
-- Returns {kept 0|1, status after it, now_us (string), ended 0|1 (by this call)}

if #KEYS ~= 6 or #ARGV ~= 7 then error('ERR wrong number of keys or arguments') end
local id = str_arg(ARGV[1], 'id')
local index = int_arg(ARGV[2], 'index', 0)
local kind = enum_arg(ARGV[3], 'kind', { 'ok', 'err' })
local line = str_arg(ARGV[4], 'line')
local chunk = str_arg(ARGV[5], 'chunk')
local last = int_arg(ARGV[6], 'last', 0)
local lease = int_arg(ARGV[7], 'lease_ms', 1)
local now = now_us()
local f = redis.call('HMGET', KEYS[1], 'status', 'total')
local status = f[1]
if not status then return { 0, 'gone', fmt(now), 0 } end
if index >= tonumber(f[2]) then error('ERR argument out of range index') end
local key, kept = fmt(index), 0
if not TERMINAL[status] and redis.call('HEXISTS', KEYS[3], key) == 0 and redis.call('HEXISTS', KEYS[4], key) == 0 then
  local results = kind == 'ok' and KEYS[3] or KEYS[4]
  redis.call('HSET', results, key, line)
  redis.call('PEXPIRE', results, math.max(redis.call('PTTL', KEYS[1]), 1))
  redis.call('HINCRBY', KEYS[1], 'n_' .. kind, 1)
  redis.call('HINCRBY', KEYS[1], 'bytes_' .. kind, #line + 1)  -- + its newline in the file
  kept = 1
end
if chunk ~= '-' and not TERMINAL[status] then
  if last == 1 then
    redis.call('ZREM', KEYS[5], chunk)
  elseif redis.call('ZSCORE', KEYS[5], chunk) then
    redis.call('ZADD', KEYS[5], now + lease * 1000, chunk)
  end
end
local final, ended = batch_settle(id, now)
return { kept, final, fmt(now), ended }
