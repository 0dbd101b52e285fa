-- lib/gcra.lua: generic cell rate algorithm, one stored timestamp (TAT, µs) per bucket.
-- A bucket of `limit` units per `period_us` advances its TAT by period*units/limit per take
-- and admits while TAT - now stays within one period (burst = limit).
-- Requests/min and tokens/min are both strict: admit takes the units only if they fit; settle
-- corrects a token bucket by (real - reserved), a refund unless a provider billed past the bound.

local GCRA_PERIOD_US = 60000000

-- µs of TAT for `units` (units*period ≤ 2^52, enforced by argument limits).
local function gcra_inc(units, limit)
  return math.floor(units * GCRA_PERIOD_US / limit)
end

local function gcra_get(key)
  return tonumber(redis.call('GET', key) or '0')
end

-- Store a TAT; the key expires when the bucket is full again.
local function gcra_put(key, tat, now)
  if tat > now then
    redis.call('SET', key, fmt(tat), 'PX', ceil_div(tat - now, 1000) + 1)
  else
    redis.call('DEL', key)
  end
end

-- Strict check of `units` (default 1): returns ok, new_tat, retry_after_us (no write).
-- Requests/min take 1; tokens/min take the whole reservation (prompt bound + output allowance),
-- so a bucket never admits more than it has room for; settle refunds what was not used.
local function gcra_check(tat, now, limit, units)
  local new = math.max(tat, now) + gcra_inc(units or 1, limit)
  local over = new - now - GCRA_PERIOD_US
  if over > 0 then return false, tat, over end
  return true, new, 0
end

-- After-the-fact correction by `delta` units (may be negative: refund).
local function gcra_adjust(key, now, limit, delta)
  local tat = gcra_get(key)
  if delta > 0 then
    tat = math.max(tat, now) + gcra_inc(delta, limit)
  elseif delta < 0 then
    if tat <= now then return end
    tat = tat - gcra_inc(-delta, limit)
  else
    return
  end
  gcra_put(key, tat, now)
end
