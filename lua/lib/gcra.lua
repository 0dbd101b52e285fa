-- lib/gcra.lua: generic cell rate algorithm, one stored timestamp (TAT, µs) per bucket.
-- A bucket of `limit` units per `period_us` advances its TAT by period*units/limit per take
-- and admits while TAT - now stays within one period (burst = limit).
-- Requests/min use strict GCRA; tokens/min use GCRA in debt mode (admit needs room,
-- charges the estimate; settle adds the real count later and may push into debt).

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

-- Strict check of one unit: returns ok, new_tat, retry_after_us (no write).
local function gcra_check(tat, now, limit)
  local new = math.max(tat, now) + gcra_inc(1, limit)
  local over = new - now - GCRA_PERIOD_US
  if over > 0 then return false, tat, over end
  return true, new, 0
end

-- Debt-mode check: room if the bucket is not full; the estimate is charged even if it
-- goes over. Returns ok, new_tat, retry_after_us (no write).
local function gcra_debt_check(tat, now, limit, units)
  local base = math.max(tat, now)
  local over = base - now - GCRA_PERIOD_US + 1
  if over > 0 then return false, tat, over end
  return true, base + gcra_inc(units, limit), 0
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
