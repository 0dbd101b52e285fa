-- lib/reserve.lua: budget reservations and the orphan sweep.
-- A reservation is a field of the `res` hash (req_id -> JSON of strings) plus a member of the
-- `resdl` ZSET scored by its deadline (µs). The spend hash of the reservation's day holds
-- reserved:total, reserved:key:<k> and, for a key in a team, reserved:team:<t>; for a runtime
-- key (`mo` = '1') the month's hash holds reserved:key:<k> and reserved:team:<t> as well. An
-- orphan (deadline passed, never settled) is charged at its reserved amount by the next
-- admit/settle, with a ledger entry status=orphan.
-- `k` (the scripts' key table) names the two day hashes `spend`, `spend_prev` and their months'
-- hashes `month`, `month_prev` (the same key when both days are in one month).

local SWEEP_LIMIT = 16
local MONTH_S = 2678400  -- a month's hash outlives its last day by the retention

local function res_get(res_key, req_id)
  local v = redis.call('HGET', res_key, req_id)
  if not v then return nil end
  return cjson.decode(v)
end

local function res_put(res_key, resdl_key, req_id, rec, deadline_us)
  redis.call('HSET', res_key, req_id, cjson.encode(rec))
  redis.call('ZADD', resdl_key, fmt(deadline_us), req_id)
end

local function res_drop(res_key, resdl_key, req_id)
  redis.call('HDEL', res_key, req_id)
  redis.call('ZREM', resdl_key, req_id)
end

-- Add `amt` (may be negative) to counters `what` (reserved or cost) of a day's spend hash `sk`
-- (total, key, team) and, when `mk` is given, of its month's hash (key, team). team '' = none.
-- Returns the new `what`:total. (One HINCRBY per field: cheaper in the engine than an HMGET and
-- an HSET of the same fields, which cost Lua tables and number formatting.)
local function scope_count(sk, mk, what, key, team, amt)
  local total = redis.call('HINCRBY', sk, what .. ':total', amt)
  redis.call('HINCRBY', sk, what .. ':key:' .. key, amt)
  if team ~= '' then redis.call('HINCRBY', sk, what .. ':team:' .. team, amt) end
  if mk then
    redis.call('HINCRBY', mk, what .. ':key:' .. key, amt)
    if team ~= '' then redis.call('HINCRBY', mk, what .. ':team:' .. team, amt) end
  end
  return total
end

-- The reservation counters of a reservation record (its key, team and month flag); returns
-- the new reserved:total.
local function res_count(sk, mk, rec, amt)
  return scope_count(sk, mk, 'reserved', rec.key, rec.tm or '', amt)
end

-- Which of the declared spend hashes hold a reservation's day: the day's hash (nil if neither
-- day) and its month's hash (nil unless the reservation counts monthly).
local function res_spend_key(rec, day, prev, k)
  local sk, mk
  if rec.day == day then sk, mk = k.spend, k.month
  elseif rec.day == prev then sk, mk = k.spend_prev, k.month_prev
  else return nil, nil end
  if rec.mo ~= '1' then mk = nil end
  return sk, mk
end

-- Charge up to SWEEP_LIMIT expired reservations at their reserved amount; returns how many
-- (0: nothing was written).
-- Reservations of a day other than day/prev are dropped with a ledger entry only
-- (their spend hash is not declared); this needs a reservation older than a day.
local function res_sweep(k, day, prev, now, maxlen, retention_s)
  local ids = redis.call('ZRANGEBYSCORE', k.resdl, '-inf', fmt(now), 'LIMIT', 0, SWEEP_LIMIT)
  for _, id in ipairs(ids) do
    local rec = res_get(k.res, id)
    if rec then
      local amt = tonumber(rec.amt)
      local sk, mk = res_spend_key(rec, day, prev, k)
      local status = 'orphan'
      if sk then
        res_count(sk, mk, rec, -amt)
        scope_count(sk, mk, 'cost', rec.key, rec.tm or '', amt)
        redis.call('HINCRBY', sk, 'cost:deployment:' .. rec.dep, amt)
        redis.call('HINCRBY', sk, 'orphans:total', 1)
        redis.call('EXPIRE', sk, retention_s)
        if mk then redis.call('EXPIRE', mk, retention_s + MONTH_S) end
      else
        status = 'orphan_stale'
      end
      redis.call('XADD', k.ledger, 'MAXLEN', '~', maxlen, '*', 'req_id', id, 'status', status,
        'day', rec.day, 'key', rec.key, 'deployment', rec.dep, 'cost', rec.amt,
        'reserved', rec.amt, 'ts_us', fmt(now))
    end
    res_drop(k.res, k.resdl, id)
  end
  return #ids
end
