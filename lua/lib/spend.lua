-- lib/spend.lua: per-day spend counters, per-(model,task) token sums, latency stats.
-- Counters live in the day's spend hash: <metric>:total and <metric>:<dim>:<name> for
-- metric in cost (µ$) req in out, dim in key model provider task route deployment, and arm
-- (an experiment's arm, when the request was in one: also ms (latency sum) and fail);
-- cached:total and cached:model:<m> for cached input tokens.
-- Settle adds cost:total and cost:key:<k> at once (admission reads them); fold.lua adds the
-- rest from the ledger in batches.

-- Add `deltas` (field -> integer) to a hash in two calls: HMGET the fields, HSET the sums.
-- Atomic inside the script, and much cheaper than one HINCRBY per field (each redis.call from
-- Lua costs several times what the command itself does).
local function hash_add(key, deltas)
  local fields = {}
  for f in pairs(deltas) do fields[#fields + 1] = f end
  if #fields == 0 then return end
  local old = redis.call('HMGET', key, unpack(fields))
  local args = {}
  for i, f in ipairs(fields) do
    args[#args + 1] = f
    args[#args + 1] = fmt(tonumber(old[i] or '0') + deltas[f])
  end
  redis.call('HSET', key, unpack(args))
end

-- What a settle counts at once: the day's, the key's and the team's spend, and for a runtime
-- key the month's (`mk`, nil otherwise). Needs lib/reserve (scope_count). Returns the new cost:total.
local function spend_now(spend_key, mk, key, team, cost, retention_s)
  local total = scope_count(spend_key, mk, 'cost', key, team, cost)
  redis.call('EXPIRE', spend_key, retention_s)
  if mk then redis.call('EXPIRE', mk, retention_s + MONTH_S) end
  return total
end

-- Latency of a deployment: count, sum and an integer EWMA (alpha 1/8) in ms.
local function latency_add(key, ms)
  local h = hgetall(key)
  local n = tonumber(h.n or '0')
  local ewma = ms
  if n > 0 then
    local old = tonumber(h.ewma_ms)
    ewma = old + math.floor((ms - old) / 8)
  end
  redis.call('HSET', key, 'n', fmt(n + 1), 'sum_ms', fmt(tonumber(h.sum_ms or '0') + ms), 'ewma_ms', fmt(ewma))
end
