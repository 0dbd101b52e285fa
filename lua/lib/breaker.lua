-- lib/breaker.lua: circuit breaker per deployment, one hash.
-- closed --N failures within window (or N consecutive)--> open --cooldown--> half_open
-- half_open: exactly one probe holds a lease (probe_id, probe_dl_us); an expired lease is
-- taken over. Probe success --> closed; failure --> open with doubled cooldown (capped).
-- Every transition bumps `gen`; reports carrying another gen are ignored.

local CB_DEFAULTS = { n = 5, window_ms = 60000, cooldown0_ms = 30000, max_cooldown_ms = 300000, lease_ms = 30000 }

local function cb_load(key)
  local h = hgetall(key)
  local b = {
    state = h.state or 'closed', gen = tonumber(h.gen or '0'), fails = h.fails or '',
    consec = tonumber(h.consec or '0'), opened_us = tonumber(h.opened_us or '0'),
    cooldown_ms = tonumber(h.cooldown_ms or '0'), probe_id = h.probe_id or '',
    probe_dl_us = tonumber(h.probe_dl_us or '0'),
  }
  for p, d in pairs(CB_DEFAULTS) do b[p] = tonumber(h[p] or d) end
  return b
end

local function cb_save(key, b)
  redis.call('HSET', key, 'state', b.state, 'gen', fmt(b.gen), 'fails', b.fails,
    'consec', fmt(b.consec), 'opened_us', fmt(b.opened_us), 'cooldown_ms', fmt(b.cooldown_ms),
    'probe_id', b.probe_id, 'probe_dl_us', fmt(b.probe_dl_us),
    'n', fmt(b.n), 'window_ms', fmt(b.window_ms), 'cooldown0_ms', fmt(b.cooldown0_ms),
    'max_cooldown_ms', fmt(b.max_cooldown_ms), 'lease_ms', fmt(b.lease_ms))
end

-- The state as of `now`: an open breaker whose cooldown passed is half_open (in memory).
local function cb_effective(b, now)
  if b.state == 'open' and now >= b.opened_us + b.cooldown_ms * 1000 then
    b.state = 'half_open'
    b.gen = b.gen + 1
    b.probe_id = ''
    b.probe_dl_us = 0
  end
  return b
end

-- Admission check on an effective breaker: returns ok, probe, retry_after_us (no write).
local function cb_check(b, now)
  if b.state == 'closed' then return true, false, 0 end
  if b.state == 'open' then return false, false, b.opened_us + b.cooldown_ms * 1000 - now end
  if b.probe_id == '' or b.probe_dl_us <= now then return true, true, 0 end
  return false, false, b.probe_dl_us - now
end

local function cb_trip(b, now, cooldown_ms)
  b.state = 'open'
  b.gen = b.gen + 1
  b.opened_us = now
  b.cooldown_ms = cooldown_ms
  b.fails = ''
  b.consec = 0
  b.probe_id = ''
  b.probe_dl_us = 0
end

-- Apply one outcome ('success' | 'failure' | 'neutral') reported for generation `gen`.
-- Returns true if the breaker changed (caller saves).
local function cb_report(b, now, gen, outcome, req_id)
  if gen ~= b.gen or b.state == 'open' then return false end
  if b.state == 'closed' then
    if outcome == 'success' then
      if b.consec == 0 then return false end
      b.consec = 0
      return true
    elseif outcome == 'failure' then
      b.consec = b.consec + 1
      local ts = {}
      for x in string.gmatch(b.fails, '%d+') do ts[#ts + 1] = x end
      ts[#ts + 1] = fmt(now)
      while #ts > b.n do table.remove(ts, 1) end
      b.fails = table.concat(ts, ' ')
      if b.consec >= b.n or (#ts >= b.n and now - tonumber(ts[1]) <= b.window_ms * 1000) then
        cb_trip(b, now, b.cooldown0_ms)
      end
      return true
    end
    return false
  end
  -- half_open: only the probe carries this generation
  if outcome == 'success' then
    b.state = 'closed'
    b.gen = b.gen + 1
    b.fails = ''
    b.consec = 0
    b.cooldown_ms = b.cooldown0_ms
    b.probe_id = ''
    b.probe_dl_us = 0
    return true
  elseif outcome == 'failure' then
    cb_trip(b, now, math.min(math.max(b.cooldown_ms, b.cooldown0_ms) * 2, b.max_cooldown_ms))
    return true
  elseif req_id ~= '' and b.probe_id == req_id then
    -- neutral result of the probe (client error, cancelled): free the lease for another probe
    b.probe_id = ''
    b.probe_dl_us = 0
    return true
  end
  return false
end
