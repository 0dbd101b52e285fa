-- lib/reserve.lua: budget reservations and the orphan sweep.
-- A reservation is a field of the `res` hash (req_id -> JSON of strings) plus a member of the
-- `resdl` ZSET scored by its deadline (µs). The spend hash of the reservation's day holds
-- reserved:total and reserved:key:<k>. An orphan (deadline passed, never settled) is charged
-- at its reserved amount by the next admit/settle, with a ledger entry status=orphan.

local SWEEP_LIMIT = 16

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

-- Add `amt` (may be negative) to the reserved counters of a day's spend hash.
local function res_count(spend_key, key, amt)
  redis.call('HINCRBY', spend_key, 'reserved:total', amt)
  redis.call('HINCRBY', spend_key, 'reserved:key:' .. key, amt)
end

-- Which of the two declared spend hashes holds a reservation's day (nil if neither).
local function res_spend_key(rec, day, prev, spend_key, prev_key)
  if rec.day == day then return spend_key end
  if rec.day == prev then return prev_key end
  return nil
end

-- Charge up to SWEEP_LIMIT expired reservations at their reserved amount.
-- Reservations of a day other than day/prev are dropped with a ledger entry only
-- (their spend hash is not declared); this needs a reservation older than a day.
local function res_sweep(k, day, prev, now, maxlen, retention_s)
  local ids = redis.call('ZRANGEBYSCORE', k.resdl, '-inf', fmt(now), 'LIMIT', 0, SWEEP_LIMIT)
  for _, id in ipairs(ids) do
    local rec = res_get(k.res, id)
    if rec then
      local amt = tonumber(rec.amt)
      local sk = res_spend_key(rec, day, prev, k.spend, k.spend_prev)
      local status = 'orphan'
      if sk then
        res_count(sk, rec.key, -amt)
        redis.call('HINCRBY', sk, 'cost:total', amt)
        redis.call('HINCRBY', sk, 'cost:key:' .. rec.key, amt)
        redis.call('HINCRBY', sk, 'cost:deployment:' .. rec.dep, amt)
        redis.call('HINCRBY', sk, 'orphans:total', 1)
        redis.call('EXPIRE', sk, retention_s)
      else
        status = 'orphan_stale'
      end
      redis.call('XADD', k.ledger, 'MAXLEN', '~', maxlen, '*', 'req_id', id, 'status', status,
        'day', rec.day, 'key', rec.key, 'deployment', rec.dep, 'cost', rec.amt,
        'reserved', rec.amt, 'ts_us', fmt(now))
    end
    res_drop(k.res, k.resdl, id)
  end
end
