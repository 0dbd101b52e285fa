-- uses: util batch
-- batch_claim: a worker takes the next chunk of a batch's lines to run (gateway/batch/runner.py).
-- A chunk is the lines [a, b), held under a lease until `lease_ms` from now; batch_record.lua
-- renews it with each result and drops it with the chunk's last. A chunk whose lease ran out
-- (its worker died) is handed out again first, with only its lines that have no result yet, so
-- every line gets exactly one result. Cancelling, or past its window, a batch hands out nothing
-- more and ends once no chunk is held (lib/batch.lua).
-- KEYS: the batch's six (lib/batch.lua)
-- ARGV: 1 batch id, 2 most lines to hand out, 3 lease_ms
-- Returns {'run', chunk 'a:b', owner, endpoint, now_us, started 0|1 (this claim made it
--          in_progress), index, line, index, line, ...}
--      or {'wait' | 'gone' | <the status it ended in, or is in>, now_us, ended 0|1 (by this call)}

if #KEYS ~= 6 or #ARGV ~= 3 then error('ERR wrong number of keys or arguments') end
local id = str_arg(ARGV[1], 'id')
local most = int_arg(ARGV[2], 'most', 1)
local lease = int_arg(ARGV[3], 'lease_ms', 1)
local now = now_us()
local f = redis.call('HMGET', KEYS[1], 'status', 'total', 'next', 'expires_us', 'owner', 'endpoint')
local status = f[1]
if not status then
  redis.call('ZREM', KEYS[6], id)  -- its keys expired
  return { 'gone', fmt(now), 0 }
end
if status == 'cancelling' or now >= tonumber(f[4]) then
  local final, ended = batch_settle(id, now)
  return { final, fmt(now), ended }
end
if status ~= 'validating' and status ~= 'in_progress' then
  redis.call('ZREM', KEYS[6], id)
  return { status, fmt(now), 0 }
end
local total, nxt = tonumber(f[2]), tonumber(f[3])
local until_us = now + lease * 1000

-- Up to 4 chunks whose lease ran out, then a fresh one. A stale chunk whose lines all have a
-- result (its worker died before dropping it) is dropped and the next one looked at.
for _ = 1, 5 do
  local chunk = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', fmt(now), 'LIMIT', 0, 1)[1]
  local a, b
  if chunk then
    local sep = string.find(chunk, ':', 1, true)
    a, b = tonumber(string.sub(chunk, 1, sep - 1)), tonumber(string.sub(chunk, sep + 1))
  elseif nxt < total then
    a, b = nxt, math.min(nxt + most, total)
    chunk = fmt(a) .. ':' .. fmt(b)
    nxt = b
    redis.call('HSET', KEYS[1], 'next', fmt(nxt))
  else
    local final, ended = batch_settle(id, now)
    return { final == 'completed' and final or 'wait', fmt(now), ended }
  end
  local out = { 'run', chunk, f[5], f[6], fmt(now), status == 'validating' and 1 or 0 }
  for i = a, b - 1 do
    local key = fmt(i)
    if redis.call('HEXISTS', KEYS[3], key) == 0 and redis.call('HEXISTS', KEYS[4], key) == 0 then
      out[#out + 1] = key
      out[#out + 1] = redis.call('HGET', KEYS[2], key)
    end
  end
  if #out > 6 then
    redis.call('ZADD', KEYS[5], until_us, chunk)
    redis.call('PEXPIRE', KEYS[5], math.max(redis.call('PTTL', KEYS[1]), 1))
    if status == 'validating' then
      redis.call('HSET', KEYS[1], 'status', 'in_progress', 'in_progress_us', fmt(now))
    end
    return out
  end
  redis.call('ZREM', KEYS[5], chunk)
end
return { 'wait', fmt(now), 0 }
