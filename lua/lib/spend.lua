-- lib/spend.lua: per-day spend counters, per-(model,task) token sums, latency stats, ledger.
-- Counters live in the day's spend hash: <metric>:total and <metric>:<dim>:<name> for
-- metric in cost (µ$) req in out, dim in key model provider task route deployment, and arm
-- (an experiment's arm, when the request was in one: also ms (latency sum) and fail);
-- cached:total and cached:model:<m> for cached input tokens.

local SPEND_DIMS = { 'key', 'model', 'provider', 'task', 'route', 'deployment', 'arm' }

-- Add `deltas` (field -> integer) to a hash in two calls: HMGET the fields, HSET the sums.
-- Atomic inside the script, and much cheaper than one HINCRBY per field (each redis.call from
-- Lua costs several times what the command itself does).
local function hash_add(key, deltas)
  local fields = {}
  for f in pairs(deltas) do fields[#fields + 1] = f end
  local old = redis.call('HMGET', key, unpack(fields))
  local args = {}
  for i, f in ipairs(fields) do
    args[#args + 1] = f
    args[#args + 1] = fmt(tonumber(old[i] or '0') + deltas[f])
  end
  redis.call('HSET', key, unpack(args))
end

-- names: table dim -> value (e.g. names.key = 'demo'); a dim left nil is not counted.
-- `extra`: more field -> delta pairs for the same hash (e.g. an experiment arm's latency).
local function spend_add(spend_key, names, cost, tin, tout, cached, retention_s, extra)
  local deltas = extra or {}
  local metrics = { cost = cost, req = 1, ['in'] = tin, out = tout }
  for m, v in pairs(metrics) do
    deltas[m .. ':total'] = v
    for _, d in ipairs(SPEND_DIMS) do
      if names[d] then deltas[m .. ':' .. d .. ':' .. names[d]] = v end
    end
  end
  deltas['cached:total'] = cached
  deltas['cached:model:' .. names.model] = cached
  hash_add(spend_key, deltas)
  redis.call('EXPIRE', spend_key, retention_s)
end

-- Running sums for the observed average tokens of a (model, task).
local function tokstats_add(key, model, task, tin, tout)
  local s = model .. ':' .. task
  hash_add(key, { ['n:' .. s] = 1, ['in:' .. s] = tin, ['out:' .. s] = tout })
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
