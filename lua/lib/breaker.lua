-- lib/breaker.lua: circuit breaker per deployment, one hash.
-- closed --N failures within window (or N consecutive)--> open --cooldown--> half_open
-- half_open: exactly one probe holds a lease (probe_id, probe_dl_us); an expired lease is
-- taken over. Probe success --> closed; failure --> open with doubled cooldown (capped).
-- Every transition bumps `gen`; reports carrying another gen are ignored.
-- One source (an API key, or '_probe' for the health probe) cannot trip it alone: the failures
-- in the window must come from at least `min_src` distinct sources (`fsrc`, parallel to `fails`).
-- A provider's 429 is not a failure: it sets `throttle_us`, until which admit skips the
-- deployment as rate limited; rejected provider credentials open it for a long cooldown.

local CB_DEFAULTS = { n = 5, window_ms = 60000, cooldown0_ms = 30000, max_cooldown_ms = 300000, lease_ms = 30000,
  min_src = 1 }

local function cb_load(key)
  local h = hgetall(key)
  local b = {
    state = h.state or 'closed', gen = tonumber(h.gen or '0'), fails = h.fails or '',
    consec = tonumber(h.consec or '0'), opened_us = tonumber(h.opened_us or '0'),
    cooldown_ms = tonumber(h.cooldown_ms or '0'), probe_id = h.probe_id or '',
    probe_dl_us = tonumber(h.probe_dl_us or '0'), fsrc = h.fsrc or '',
    throttle_us = tonumber(h.throttle_us or '0'),
  }
  for p, d in pairs(CB_DEFAULTS) do b[p] = tonumber(h[p] or d) end
  return b
end

local function cb_save(key, b)
  redis.call('HSET', key, 'state', b.state, 'gen', fmt(b.gen), 'fails', b.fails,
    'consec', fmt(b.consec), 'opened_us', fmt(b.opened_us), 'cooldown_ms', fmt(b.cooldown_ms),
    'probe_id', b.probe_id, 'probe_dl_us', fmt(b.probe_dl_us), 'fsrc', b.fsrc,
    'throttle_us', fmt(b.throttle_us),
    'n', fmt(b.n), 'window_ms', fmt(b.window_ms), 'cooldown0_ms', fmt(b.cooldown0_ms),
    'max_cooldown_ms', fmt(b.max_cooldown_ms), 'lease_ms', fmt(b.lease_ms), 'min_src', fmt(b.min_src))
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
  b.fsrc = ''
  b.consec = 0
  b.probe_id = ''
  b.probe_dl_us = 0
end

-- Distinct words of a space-separated list.
local function cb_distinct(list)
  local seen, n = {}, 0
  for x in string.gmatch(list, '%S+') do
    if not seen[x] then seen[x] = true; n = n + 1 end
  end
  return n
end

-- A provider's 429: skip this deployment until now + ms (never shortens an earlier hold).
local function cb_throttle(b, now, ms)
  if now + ms * 1000 <= b.throttle_us then return false end
  b.throttle_us = now + ms * 1000
  return true
end

-- The provider rejected the gateway's credentials: open for `ms`, whatever the state.
local function cb_disable(b, now, ms)
  cb_trip(b, now, ms)
  return true
end

-- Apply one outcome ('success' | 'failure' | 'neutral') reported for generation `gen` by
-- source `src` (a key name without spaces). Returns true if the breaker changed (caller saves).
local function cb_report(b, now, gen, outcome, req_id, src)
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
      local ss = {}
      for x in string.gmatch(b.fsrc, '%S+') do ss[#ss + 1] = x end
      while #ss < #ts do table.insert(ss, 1, '?') end  -- a hash written before sources were kept
      ts[#ts + 1] = fmt(now)
      ss[#ss + 1] = src or '?'
      while #ts > b.n do table.remove(ts, 1); table.remove(ss, 1) end
      b.fails = table.concat(ts, ' ')
      b.fsrc = table.concat(ss, ' ')
      if (b.consec >= b.n or (#ts >= b.n and now - tonumber(ts[1]) <= b.window_ms * 1000))
          and cb_distinct(b.fsrc) >= b.min_src then
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
