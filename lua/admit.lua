-- uses: util gcra breaker reserve pace
-- admit: the one round trip before the upstream call.
-- Reports earlier failures of this request to the breakers, checks the key's rate limits and
-- the budget's pace, then picks the first candidate whose breaker admits it, whose rate limits
-- have room and whose worst-case cost fits every budget (the cheapest such candidate by expected
-- cost when pace or the daily limit downgrades this priority); only then takes the buckets
-- and reserves. Idempotent by req_id (the gateway's own id, never the client's): a repeated
-- admit returns the stored decision (dup = 1). An admit that runs after the caller's deadline
-- (the engine stalled, the caller gave up and answered), or after its request was settled,
-- writes nothing and says 'expired'.
-- Token buckets take the whole reservation (est = prompt bound + n x output allowance) or
-- nothing; a reservation larger than a token limit itself can never pass: 'tokens_exceed_limit'.
-- A runtime key (key_id not '-') is checked against its record first, writing nothing on a
-- refusal: 'key_revoked' (revoked, expired, or an old secret past its rotation grace) or
-- 'stale' (the worker's cached version is not the record's: refetch, then admit again). Its
-- team's limits are read from the team record here, so a team change binds at once; its spend
-- is counted per team (day) and per key and team in the month's hash.
--
-- KEYS: 1 req record, 2 res, 3 resdl, 4 spend:<day>, 5 spend:<prev day>, 6 ledger,
--       7 key rpm, 8 key tpm, then per candidate: dep rpm, dep tpm, breaker;
--       then per failure: breaker; then pace:<day>, pace events:<day>, key record, team record,
--       team rpm, team tpm, spendm:<month of day>, spendm:<month of prev day>
-- ARGV: 1 req_id, 2 key, 3 key_rpm, 4 key_tpm, 5 key_budget, 6 global_budget (the hard
--       limit), 7 day, 8 prev_day, 9 est_tokens, 10 reservation_ttl_ms, 11 record_ttl_ms,
--       12 ledger_maxlen, 13 retention_s, 14 n_candidates, 15 n_failures,
--       16 priority (0 low .. 3 critical), 17 soft budget (the daily budget paced; 0 = none),
--       18 day_start_us, 19 day_len_us, 20 burst, 21 enter, 22 normal_enter, 23 exit (permille),
--       24 at_limit_cheapest (1: serve on the cheapest candidate past the daily budget; 0: refuse),
--       25 deadline_us (engine clock; 0 = none), 26 key_id ('-': a key of the config file),
--       27 key_version (the worker's cached one), 28 key_old (1: the request used the secret a
--       rotation replaced), 29 team ('-': none), 30 key_monthly_budget (0 = none),
--       then per candidate (11): deployment rpm tpm max_cost expected_cost n window_ms
--       cooldown_ms max_cooldown_ms lease_ms min_sources; then per failure (3): deployment gen kind
-- remaining: the smallest budget left (limit - spent - reserved) before this request's own
-- reservation, -1 = no budget; the caller subtracts the real cost once it is known, so
-- sequential requests of one key see it fall (the worst case would make it jump back up).
-- Returns {ok, index, reason, retry_after_ms, gen, probe, spent, reserved, remaining, dup,
--          now_us (string), {dep1, reason1, dep2, reason2, ...}, downgraded, pace_mode,
--          pace_ratio_permille}

local MAX_TOKENS = 50000000
local A = {
  req_id = str_arg(ARGV[1], 'req_id'), key = str_arg(ARGV[2], 'key'),
  key_rpm = int_arg(ARGV[3], 'key_rpm'), key_tpm = int_arg(ARGV[4], 'key_tpm'),
  key_budget = int_arg(ARGV[5], 'key_budget'), global_budget = int_arg(ARGV[6], 'global_budget'),
  day = str_arg(ARGV[7], 'day'), prev = str_arg(ARGV[8], 'prev_day'),
  est = int_arg(ARGV[9], 'est_tokens'), res_ttl_ms = int_arg(ARGV[10], 'reservation_ttl_ms', 1),
  rec_ttl_ms = int_arg(ARGV[11], 'record_ttl_ms', 1), maxlen = int_arg(ARGV[12], 'ledger_maxlen', 1),
  retention_s = int_arg(ARGV[13], 'retention_s', 1),
  nc = int_arg(ARGV[14], 'n_candidates', 1), nf = int_arg(ARGV[15], 'n_failures'),
  priority = int_arg(ARGV[16], 'priority'), soft = int_arg(ARGV[17], 'soft_budget'),
  day_start = int_arg(ARGV[18], 'day_start_us'), day_len = int_arg(ARGV[19], 'day_len_us', 1),
  burst = int_arg(ARGV[20], 'burst'), enter = int_arg(ARGV[21], 'enter', 1),
  normal_enter = int_arg(ARGV[22], 'normal_enter', 1), exit = int_arg(ARGV[23], 'exit'),
  at_limit_cheapest = int_arg(ARGV[24], 'at_limit_cheapest'), deadline = int_arg(ARGV[25], 'deadline_us'),
  key_id = str_arg(ARGV[26], 'key_id'), key_version = int_arg(ARGV[27], 'key_version'),
  key_old = int_arg(ARGV[28], 'key_old'), team = str_arg(ARGV[29], 'team'),
  key_month = int_arg(ARGV[30], 'key_monthly_budget'),
}
if A.est > MAX_TOKENS then error('ERR est_tokens too large') end
if A.priority > 3 or A.at_limit_cheapest > 1 then error('ERR argument out of range') end
local NF, NC = 30, 11  -- fixed arguments, arguments per candidate
if #ARGV ~= NF + NC * A.nc + 3 * A.nf or #KEYS ~= 16 + 3 * A.nc + A.nf then
  error('ERR wrong number of keys or arguments')
end
local cands = {}
for i = 1, A.nc do
  local o = NF + NC * (i - 1)
  cands[i] = {
    dep = str_arg(ARGV[o + 1], 'deployment'), rpm = int_arg(ARGV[o + 2], 'rpm'),
    tpm = int_arg(ARGV[o + 3], 'tpm'), cost = int_arg(ARGV[o + 4], 'max_cost'),
    expected = int_arg(ARGV[o + 5], 'expected_cost'),
    n = int_arg(ARGV[o + 6], 'n', 1), window_ms = int_arg(ARGV[o + 7], 'window_ms', 1),
    cooldown0_ms = int_arg(ARGV[o + 8], 'cooldown_ms', 1),
    max_cooldown_ms = int_arg(ARGV[o + 9], 'max_cooldown_ms', 1),
    lease_ms = int_arg(ARGV[o + 10], 'probe_lease_ms', 1),
    min_src = int_arg(ARGV[o + 11], 'min_sources', 1),
    k_rpm = KEYS[9 + 3 * (i - 1)], k_tpm = KEYS[10 + 3 * (i - 1)], k_cb = KEYS[11 + 3 * (i - 1)],
  }
end
local fails = {}
for i = 1, A.nf do
  local o = NF + NC * A.nc + 3 * (i - 1)
  fails[i] = { dep = str_arg(ARGV[o + 1], 'failed deployment'), gen = int_arg(ARGV[o + 2], 'failed gen'),
    kind = str_arg(ARGV[o + 3], 'failed kind'), k_cb = KEYS[8 + 3 * A.nc + i] }
end
local T = 8 + 3 * A.nc + A.nf  -- the keys before the tail
local K = { req = KEYS[1], res = KEYS[2], resdl = KEYS[3], spend = KEYS[4], spend_prev = KEYS[5],
  ledger = KEYS[6], key_rpm = KEYS[7], key_tpm = KEYS[8], pace = KEYS[T + 1], pace_events = KEYS[T + 2],
  key_rec = KEYS[T + 3], team_rec = KEYS[T + 4], team_rpm = KEYS[T + 5], team_tpm = KEYS[T + 6],
  month = KEYS[T + 7], month_prev = KEYS[T + 8] }
local runtime, team = A.key_id ~= '-', ''
if A.team ~= '-' then team = A.team end

-- The reply; `skipped` lists (deployment, reason) pairs.
local function reply(d, dup, now)
  return { d.ok, d.index, d.reason, d.retry_ms, d.gen, d.probe, d.spent, d.reserved,
    d.remaining, dup, fmt(now), d.skipped, d.downgraded, d.pace_mode, d.pace_ratio }
end

-- 1. Duplicate: return the stored decision, write nothing.
local stored = hgetall(K.req)
local now = now_us()
if stored.ok then
  local sk = {}
  for x in string.gmatch(stored.skipped, '[^\n]+') do sk[#sk + 1] = x end
  return reply({ ok = tonumber(stored.ok), index = tonumber(stored.index), reason = stored.reason,
    retry_ms = tonumber(stored.retry_ms), gen = tonumber(stored.gen), probe = tonumber(stored.probe),
    spent = tonumber(stored.spent), reserved = tonumber(stored.reserved),
    remaining = tonumber(stored.remaining), skipped = sk, downgraded = stored.downgraded or '',
    pace_mode = tonumber(stored.pace_mode or '0'), pace_ratio = tonumber(stored.pace_ratio or '0') }, 1, now)
end

-- The caller gave up waiting for this admit before it ran: nothing is taken or reserved. So
-- too when its request was settled already (served without Redis, its journaled settle
-- replayed before this stale admit): the settle counted it; a reservation would be an orphan.
if (A.deadline > 0 and now > A.deadline) or stored.state then
  return reply({ ok = 0, index = -1, reason = 'expired', retry_ms = 0, gen = 0, probe = 0, spent = 0,
    reserved = 0, remaining = -1, skipped = {}, downgraded = '', pace_mode = 0, pace_ratio = 0 }, 0, now)
end

-- A runtime key's record: revoked, expired or stale, nothing is written.
if runtime then
  local r = redis.call('HMGET', K.key_rec, 'version', 'revoked', 'expires_us', 'old_until_us')
  local why = nil
  if not r[1] or r[2] == '1' then why = 'key_revoked'
  elseif tonumber(r[1]) ~= A.key_version then why = 'stale'
  elseif tonumber(r[3] or '0') > 0 and now >= tonumber(r[3]) then why = 'key_revoked'
  elseif A.key_old == 1 and now >= tonumber(r[4] or '0') then why = 'key_revoked' end
  if why then
    return reply({ ok = 0, index = -1, reason = why, retry_ms = 0, gen = 0, probe = 0, spent = 0,
      reserved = 0, remaining = -1, skipped = {}, downgraded = '', pace_mode = 0, pace_ratio = 0 }, 0, now)
  end
end
-- The team's limits, as they are now (0 = none).
local TL = { rpm = 0, tpm = 0, day = 0, month = 0 }
if team ~= '' then
  local r = redis.call('HMGET', K.team_rec, 'rpm', 'tpm', 'daily_micro', 'monthly_micro')
  TL.rpm, TL.tpm = tonumber(r[1] or '0'), tonumber(r[2] or '0')
  TL.day, TL.month = tonumber(r[3] or '0'), tonumber(r[4] or '0')
end

-- 2. Charge expired reservations, then report this request's earlier failures.
res_sweep(K, A.day, A.prev, now, A.maxlen, A.retention_s)
local src = A.nf > 0 and string.gsub(A.key, '%s', '_') or ''  -- the failures' source
for _, f in ipairs(fails) do
  local b = cb_load(f.k_cb)
  local outcome = 'failure'
  if f.kind == 'neutral' then outcome = 'neutral' end
  if cb_report(b, now, f.gen, outcome, '', src) then cb_save(f.k_cb, b) end
end

-- Budget state of the day (after the sweep); a team's day spend in the same read.
local sums
if team ~= '' then
  sums = redis.call('HMGET', K.spend, 'cost:total', 'reserved:total', 'cost:key:' .. A.key,
    'reserved:key:' .. A.key, 'cost:team:' .. team, 'reserved:team:' .. team)
else
  sums = redis.call('HMGET', K.spend, 'cost:total', 'reserved:total', 'cost:key:' .. A.key,
    'reserved:key:' .. A.key)
end
local spent, reserved = tonumber(sums[1] or '0'), tonumber(sums[2] or '0')
-- every budget that binds this request: {limit, used (spent + reserved)}
local budgets = {}
local function bind(limit, a, b) if limit > 0 then budgets[#budgets + 1] = { limit, tonumber(a or '0') + tonumber(b or '0') } end end
bind(A.global_budget, sums[1], sums[2])
bind(A.key_budget, sums[3], sums[4])
if team ~= '' and TL.day > 0 then bind(TL.day, sums[5], sums[6]) end
if A.key_month > 0 or TL.month > 0 then
  local m = redis.call('HMGET', K.month, 'cost:key:' .. A.key, 'reserved:key:' .. A.key,
    'cost:team:' .. team, 'reserved:team:' .. team)
  bind(A.key_month, m[1], m[2])
  if team ~= '' then bind(TL.month, m[3], m[4]) end
end
local function budget_left()  -- the smallest left, 0 when one is overspent; -1: no budget applies
  local r = nil
  for _, b in ipairs(budgets) do
    local left = b[1] - b[2]
    if r == nil or left < r then r = left end
  end
  if r == nil then return -1 end
  return math.max(r, 0)
end
local function fits(amt)
  for _, b in ipairs(budgets) do
    if b[2] + amt > b[1] then return false end
  end
  return true
end

local d = { ok = 0, index = -1, reason = '', retry_ms = 0, gen = 0, probe = 0, spent = spent,
  reserved = reserved, remaining = budget_left(), skipped = {}, downgraded = '', pace_mode = 0,
  pace_ratio = 0 }

-- Store the decision under the req record (idempotency) and reply.
local function finish(extra)
  local sk = {}
  for i = 1, #d.skipped, 2 do sk[#sk + 1] = d.skipped[i] .. '\n' .. d.skipped[i + 1] end
  redis.call('HSET', K.req, 'ok', fmt(d.ok), 'index', fmt(d.index), 'reason', d.reason,
    'retry_ms', fmt(d.retry_ms), 'gen', fmt(d.gen), 'probe', fmt(d.probe), 'spent', fmt(d.spent),
    'reserved', fmt(d.reserved), 'remaining', fmt(d.remaining),
    'skipped', table.concat(sk, '\n'), 'state', extra.state, 'day', A.day, 'key', A.key, 'team', A.team,
    'deployment', extra.dep, 'downgraded', d.downgraded, 'pace_mode', fmt(d.pace_mode),
    'pace_ratio', fmt(d.pace_ratio))
  redis.call('PEXPIRE', K.req, A.rec_ttl_ms)
  return reply(d, 0, now)
end

-- 3. The key's own limits, then its team's (shared by the team's keys): rpm and tpm buckets,
-- checked now and taken only once a candidate is chosen.
local function limits(k_rpm, k_tpm, rpm, tpm, why)
  local rpm_tat, tpm_tat
  if rpm > 0 then
    local ok, tat, wait = gcra_check(gcra_get(k_rpm), now, rpm)
    if not ok then d.reason = why; d.retry_ms = ceil_div(wait, 1000); return end
    rpm_tat = tat
  end
  if tpm > 0 then
    if A.est > tpm then d.reason = 'tokens_exceed_limit'; return end
    local ok, tat, wait = gcra_check(gcra_get(k_tpm), now, tpm, A.est)
    if not ok then d.reason = why; d.retry_ms = ceil_div(wait, 1000); return end
    tpm_tat = tat
  end
  return rpm_tat, tpm_tat
end
local key_rpm_tat, key_tpm_tat = limits(K.key_rpm, K.key_tpm, A.key_rpm, A.key_tpm, 'key_rate_limited')
local team_rpm_tat, team_tpm_tat
if d.reason == '' and team ~= '' then
  team_rpm_tat, team_tpm_tat = limits(K.team_rpm, K.team_tpm, TL.rpm, TL.tpm, 'team_rate_limited')
end
if d.reason ~= '' then return finish({ state = 'refused', dep = '' }) end

-- 4. Pace: past the daily budget, this priority's policy (cheapest or refuse); over pace,
-- low (mode 1) and normal (mode 2) priorities take their cheapest candidate; critical never.
local cheapest = false
if A.soft > 0 then
  local used = spent + reserved
  d.pace_ratio = pace_ratio(used, A.soft, now - A.day_start, A.day_len, A.burst)
  d.pace_mode = pace_update(K.pace, K.pace_events, now, d.pace_ratio, A.enter, A.normal_enter, A.exit)
  if used >= A.soft then
    if A.at_limit_cheapest == 0 then
      d.reason = 'budget_exceeded'
      d.retry_ms = ceil_div(A.day_start + A.day_len - now, 1000)
      return finish({ state = 'refused', dep = '' })
    end
    cheapest, d.downgraded = true, 'budget_limit'
  elseif (d.pace_mode >= 1 and A.priority == 0) or (d.pace_mode == 2 and A.priority == 1) then
    cheapest, d.downgraded = true, 'pace'
  end
end

-- 5. Candidates in preference order (or all, for the cheapest): breaker, limits, budgets.
local chosen, best_wait, best_reason, first_ok, permanent = nil, nil, nil, nil, nil
for i, c in ipairs(cands) do
  local b = cb_load(c.k_cb)
  local cb_before = b.state .. ':' .. b.gen
  cb_effective(b, now)
  local why, wait = nil, 0
  local ok, probe, w = cb_check(b, now)
  local rpm_tat, tpm_tat
  if not ok then why, wait = 'breaker_open', w end
  if not why and b.throttle_us > now then why, wait = 'rate_limited', b.throttle_us - now end
  if not why and c.rpm > 0 then
    ok, rpm_tat, w = gcra_check(gcra_get(c.k_rpm), now, c.rpm)
    if not ok then why, wait = 'rate_limited', w end
  end
  if not why and c.tpm > 0 then
    if A.est > c.tpm then
      why = 'tokens_exceed_limit'
    else
      ok, tpm_tat, w = gcra_check(gcra_get(c.k_tpm), now, c.tpm, A.est)
      if not ok then why, wait = 'rate_limited', w end
    end
  end
  if not why and not fits(c.cost) then why = 'budget_exceeded' end
  if not why then
    first_ok = first_ok or i
    if not chosen or c.expected < chosen.c.expected then
      chosen = { i = i, c = c, b = b, probe = probe, rpm_tat = rpm_tat, tpm_tat = tpm_tat,
        cb_before = cb_before }
    end
    if not cheapest then break end
  else
    d.skipped[#d.skipped + 1] = c.dep
    d.skipped[#d.skipped + 1] = why
    if why == 'budget_exceeded' or why == 'tokens_exceed_limit' then
      if permanent ~= 'budget_exceeded' then permanent = why end
    elseif best_wait == nil or wait < best_wait then
      best_wait, best_reason = wait, why
    end
  end
end
if chosen and chosen.i == first_ok then d.downgraded = '' end

if not chosen then
  -- a temporary reason (smallest wait) beats a permanent one (budget, then token limit)
  if best_reason == nil then
    d.reason = permanent
  else
    if best_reason == 'rate_limited' then d.reason = 'deployments_rate_limited' else d.reason = best_reason end
    d.retry_ms = ceil_div(best_wait, 1000)
  end
  return finish({ state = 'refused', dep = '' })
end

-- 6. Take: key buckets, deployment buckets, breaker (probe lease + params), reservation.
local c = chosen.c
if A.key_rpm > 0 then gcra_put(K.key_rpm, key_rpm_tat, now) end
if A.key_tpm > 0 then gcra_put(K.key_tpm, key_tpm_tat, now) end
if TL.rpm > 0 then gcra_put(K.team_rpm, team_rpm_tat, now) end
if TL.tpm > 0 then gcra_put(K.team_tpm, team_tpm_tat, now) end
if c.rpm > 0 then gcra_put(c.k_rpm, chosen.rpm_tat, now) end
if c.tpm > 0 then gcra_put(c.k_tpm, chosen.tpm_tat, now) end
local b = chosen.b
-- The breaker hash is written only when something changed: a half-open transition, a probe
-- lease, or new parameters from the config (most admits of a healthy deployment write nothing).
local dirty = chosen.probe or chosen.cb_before ~= b.state .. ':' .. b.gen or b.n ~= c.n
  or b.window_ms ~= c.window_ms or b.cooldown0_ms ~= c.cooldown0_ms
  or b.max_cooldown_ms ~= c.max_cooldown_ms or b.lease_ms ~= c.lease_ms or b.min_src ~= c.min_src
b.n, b.window_ms, b.cooldown0_ms, b.max_cooldown_ms, b.lease_ms, b.min_src =
  c.n, c.window_ms, c.cooldown0_ms, c.max_cooldown_ms, c.lease_ms, c.min_src
if chosen.probe then
  b.probe_id = A.req_id
  b.probe_dl_us = now + c.lease_ms * 1000
end
if dirty then cb_save(c.k_cb, b) end
local ek, ed = 0, 0
if A.key_tpm > 0 then ek = A.est end
if c.tpm > 0 then ed = A.est end
-- kt/dt/tt: the token limits the estimate was taken under, so a release can refund it;
-- tm: the team, mo: counted in the month's hash (runtime keys)
local rec = { day = A.day, key = A.key, dep = c.dep, amt = fmt(c.cost),
  ek = fmt(ek), ed = fmt(ed), kt = fmt(A.key_tpm), dt = fmt(c.tpm), gen = fmt(b.gen),
  probe = chosen.probe and '1' or '0' }
if team ~= '' then
  rec.tm, rec.tt, rec.et = team, fmt(TL.tpm), '0'
  if TL.tpm > 0 then rec.et = fmt(A.est) end
end
if runtime then rec.mo = '1' end
res_put(K.res, K.resdl, A.req_id, rec, now + A.res_ttl_ms * 1000)
local mk = nil
if runtime then mk = K.month end
res_count(K.spend, mk, rec, c.cost)
redis.call('EXPIRE', K.spend, A.retention_s)
if mk then redis.call('EXPIRE', mk, A.retention_s + MONTH_S) end
reserved = reserved + c.cost

-- d.remaining stays as it was before this reservation (see the header comment)
d.ok, d.index, d.gen, d.reserved = 1, chosen.i - 1, b.gen, reserved
if chosen.probe then d.probe = 1 end
return finish({ state = 'admitted', dep = c.dep })
