-- uses: util
-- admin_auth: the limit on failed admin authentication (dashboard login, /admin/* with a Bearer
-- key), shared by every replica. Two counters, one per client address and one for all clients,
-- each a fixed window opened by its first failure. While either is at its limit every attempt
-- is refused, the right key too, so guessing stops and a refusal tells nothing about the key.
-- KEYS: 1 the client's counter, 2 the global counter (HASH n, until_us)
-- ARGV: 1 outcome (ok|fail: whether the key matched), 2 client limit, 3 global limit, 4 window_ms
-- Returns {allowed 0|1, retry_after_ms, client failures, global failures, now_us (string)}

if #KEYS ~= 2 or #ARGV ~= 4 then error('ERR wrong number of keys or arguments') end
local outcome = enum_arg(ARGV[1], 'outcome', { 'ok', 'fail' })
local limits = { int_arg(ARGV[2], 'client_limit', 1), int_arg(ARGV[3], 'global_limit', 1) }
local window_us = int_arg(ARGV[4], 'window_ms', 1) * 1000
local now = now_us()

-- A counter as of now: {failures, window end}; an ended window counts zero.
local counters, wait = {}, 0
for i = 1, 2 do
  local h = redis.call('HMGET', KEYS[i], 'n', 'until_us')
  local n, till = tonumber(h[1] or '0'), tonumber(h[2] or '0')
  if till <= now then n, till = 0, 0 end
  counters[i] = { n, till }
  if n >= limits[i] then wait = math.max(wait, till - now) end
end
if wait > 0 then
  return { 0, ceil_div(wait, 1000), counters[1][1], counters[2][1], fmt(now) }
end
if outcome == 'fail' then
  for i = 1, 2 do
    local c = counters[i]
    if c[1] == 0 then c[2] = now + window_us end
    c[1] = c[1] + 1
    redis.call('HSET', KEYS[i], 'n', fmt(c[1]), 'until_us', fmt(c[2]))
    redis.call('PEXPIREAT', KEYS[i], ceil_div(c[2], 1000) + 1000)
  end
end
return { 1, 0, counters[1][1], counters[2][1], fmt(now) }
