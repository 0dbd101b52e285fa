-- uses: util gcra breaker reserve spend
-- settle: the one round trip after the upstream call.
-- Replaces the reservation by the real cost, adds the day's and the key's spend (what admission
-- reads), corrects both token buckets by (real tokens - estimate charged at admit), reports the
-- outcome to the breaker, updates the latency statistics, notes the key's and its team's last
-- use, and appends one ledger entry marked `fold 1`, from which fold.lua adds the per-dimension
-- counters and token statistics in batches; then sweeps orphans.
-- Idempotent: an unknown or already settled req_id changes nothing but the sweep; with
-- `force` (a settle journaled while Redis was away, for a request admitted without it) an
-- unknown req_id is counted once, straight into the day's spend, and recorded as settled.
--
-- KEYS: 1 req record, 2 res, 3 resdl, 4 spend:<day>, 5 spend:<prev day>, 6 ledger,
--       7 key tpm, 8 dep tpm, 9 breaker, 10 latency, 11 team tpm, 12 spendm:<month of day>,
--       13 spendm:<month of prev day>, 14 lastuse
-- ARGV: 1 req_id, 2 key, 3 deployment, 4 provider, 5 model, 6 task, 7 route, 8 day,
--       9 prev_day, 10 cost, 11 tokens_in, 12 tokens_out, 13 cached_tokens, 14 outcome,
--       15 breaker_gen, 16 latency_us, 17 tpm, 18 key_tpm, 19 ledger_maxlen, 20 retention_s,
--       21 force (0/1), 22 experiment arm ('-' for none), 23 hold_ms (throttled: skip the
--       deployment this long; disabled: keep it open this long), 24 team ('-': none) and
--       25 monthly (0/1: a runtime key) for a forced settle with no reservation (a reservation
--       carries its own team and month flag), 26 web searches, 27 cache-written tokens, 28 of
--       those written for an hour (the three go on the ledger entry only when not 0, so the audit
--       re-prices them as the cost did; readers take an absent field as 0)
-- Outcomes: success | failure (counts toward the breaker, the key being its source) | neutral |
--   throttled (the provider's 429: not a failure) | disabled (the provider refused the gateway's
--   own credentials: open at once)
-- Returns {settled (0/1), status, spent, reserved, now_us (string), breaker state, breaker gen}
--   status: settled | settled_direct | unknown | already_settled | released | orphan

local MAX_TOKENS = 50000000
if #KEYS ~= 14 or #ARGV ~= 28 then error('ERR wrong number of keys or arguments') end
local A = {
  req_id = str_arg(ARGV[1], 'req_id'), key = str_arg(ARGV[2], 'key'),
  dep = str_arg(ARGV[3], 'deployment'), provider = str_arg(ARGV[4], 'provider'),
  model = str_arg(ARGV[5], 'model'), task = str_arg(ARGV[6], 'task'), route = str_arg(ARGV[7], 'route'),
  day = str_arg(ARGV[8], 'day'), prev = str_arg(ARGV[9], 'prev_day'),
  cost = int_arg(ARGV[10], 'cost'), tin = int_arg(ARGV[11], 'tokens_in'),
  tout = int_arg(ARGV[12], 'tokens_out'), cached = int_arg(ARGV[13], 'cached_tokens'),
  outcome = enum_arg(ARGV[14], 'outcome', { 'success', 'failure', 'neutral', 'throttled', 'disabled' }),
  gen = int_arg(ARGV[15], 'breaker_gen'), latency_us = int_arg(ARGV[16], 'latency_us'),
  tpm = int_arg(ARGV[17], 'tpm'), key_tpm = int_arg(ARGV[18], 'key_tpm'),
  maxlen = int_arg(ARGV[19], 'ledger_maxlen', 1), retention_s = int_arg(ARGV[20], 'retention_s', 1),
  force = int_arg(ARGV[21], 'force'), arm = str_arg(ARGV[22], 'arm'), hold_ms = int_arg(ARGV[23], 'hold_ms'),
  team = str_arg(ARGV[24], 'team'), monthly = int_arg(ARGV[25], 'monthly'),
  searches = int_arg(ARGV[26], 'web_searches'), written = int_arg(ARGV[27], 'cache_write_tokens'),
  written_1h = int_arg(ARGV[28], 'cache_write_1h_tokens'),
}
if A.force > 1 or A.monthly > 1 then error('ERR argument out of range force') end
if A.tin > MAX_TOKENS or A.tout > MAX_TOKENS or A.cached > MAX_TOKENS or A.written > MAX_TOKENS
    or A.written_1h > MAX_TOKENS or A.searches > MAX_TOKENS then
  error('ERR token count too large')
end
local K = { req = KEYS[1], res = KEYS[2], resdl = KEYS[3], spend = KEYS[4], spend_prev = KEYS[5],
  ledger = KEYS[6], key_tpm = KEYS[7], dep_tpm = KEYS[8], cb = KEYS[9], lat = KEYS[10], team_tpm = KEYS[11],
  month = KEYS[12], month_prev = KEYS[13], lastuse = KEYS[14] }

local now = now_us()
local b = nil  -- the breaker, once loaded

-- Count a settled request: the spend admission reads, breaker, latency, the ledger entry
-- (whose layout fold.lua reads by position: keep the two in step; the integer ARGV are
-- written as given, int_arg having checked they are plain decimals), the request record.
-- Returns the new cost:total of `sk`.
local function count(sk, mk, team, day, status, reserved_amt)
  local spent = spend_now(sk, mk, A.key, team, A.cost, A.retention_s)
  b = cb_load(K.cb)
  local changed
  if A.outcome == 'throttled' then changed = cb_throttle(b, now, A.hold_ms)
  elseif A.outcome == 'disabled' then changed = cb_disable(b, now, A.hold_ms)
  else
    local src = ''  -- the failure's source; only a failure reads it
    if A.outcome == 'failure' then src = string.gsub(A.key, '%s', '_') end
    changed = cb_report(b, now, A.gen, A.outcome, A.req_id, src)
  end
  if changed then cb_save(K.cb, b) end
  if A.outcome == 'success' then latency_add(K.lat, math.floor(A.latency_us / 1000)) end
  -- last use: one field per key and team in one hash of this slot (no key record is touched,
  -- so no version moves and no revoked or config-file key gets a record)
  local now_s = fmt(now)
  if team ~= '' then
    redis.call('HSET', K.lastuse, 'key:' .. A.key, now_s, 'team:' .. team, now_s)
  else
    redis.call('HSET', K.lastuse, 'key:' .. A.key, now_s)
  end
  -- what priced the cost beyond in/out/cached, after the fields fold reads by position, and
  -- only when not 0 (most requests neither search nor write a cache: their entries stay as short)
  local extra = {}
  if A.searches > 0 then extra[#extra + 1] = 'searches'; extra[#extra + 1] = ARGV[26] end
  if A.written > 0 then
    extra[#extra + 1] = 'written'; extra[#extra + 1] = ARGV[27]
    if A.written_1h > 0 then extra[#extra + 1] = 'written_1h'; extra[#extra + 1] = ARGV[28] end
  end
  redis.call('XADD', K.ledger, 'MAXLEN', '~', A.maxlen, '*', 'fold', '1', 'req_id', A.req_id,
    'status', status, 'day', day, 'key', A.key, 'deployment', A.dep, 'provider', A.provider,
    'model', A.model, 'task', A.task, 'route', A.route, 'arm', A.arm, 'cost', ARGV[10],
    'reserved', reserved_amt, 'in', ARGV[11], 'out', ARGV[12], 'cached', ARGV[13],
    'outcome', A.outcome, 'latency_ms', fmt(math.floor(A.latency_us / 1000)), 'ts_us', now_s,
    'latency_us', ARGV[16], unpack(extra))  -- fold reads the fields up to latency_us by position
  -- a record that had a state has its TTL (admit sets both; settle and release give one to a
  -- record they create), so only a new field needs the PTTL check
  if redis.call('HSET', K.req, 'state', 'settled') == 1 and redis.call('PTTL', K.req) < 0 then
    redis.call('PEXPIRE', K.req, 86400000)
  end
  return spent
end

local rec = res_get(K.res, A.req_id)
local status = 'settled'
local spent, reserved = nil, nil  -- today's totals, when this call wrote both
if not rec then
  local st = redis.call('HGET', K.req, 'state')
  if st == 'settled' then status = 'already_settled'
  elseif st == 'released' then status = 'released'
  elseif st == 'admitted' or st == 'orphan' then status = 'orphan'
  elseif A.force == 1 then
    status = 'settled_direct'
    local team, mk = '', nil
    if A.team ~= '-' then team = A.team end
    if A.monthly == 1 then mk = K.month end
    count(K.spend, mk, team, A.day, status, '0')
  else status = 'unknown' end
else
  -- 1. reservation -> real cost, in the reservation's own day when declared
  -- (a reservation of an undeclared day keeps its reserved count there until that hash expires)
  local rsk, rmk = res_spend_key(rec, A.day, A.prev, K)
  if rsk then reserved = res_count(rsk, rmk, rec, -tonumber(rec.amt)) end
  if rsk ~= K.spend then reserved = nil end
  res_drop(K.res, K.resdl, A.req_id)
  -- 2. token buckets: real count minus the estimate charged at admit
  local real = A.tin + A.tout
  if A.key_tpm > 0 then gcra_adjust(K.key_tpm, now, A.key_tpm, real - tonumber(rec.ek)) end
  if A.tpm > 0 then gcra_adjust(K.dep_tpm, now, A.tpm, real - tonumber(rec.ed)) end
  local tt = tonumber(rec.tt or '0')
  if tt > 0 then gcra_adjust(K.team_tpm, now, tt, real - tonumber(rec.et)) end
  -- 3. counters, breaker, latency, token statistics, ledger and the request record
  -- (a reservation of an undeclared day is counted in today's hashes)
  if not rsk then
    rsk = K.spend
    if rec.mo == '1' then rmk = K.month end
  end
  spent = count(rsk, rmk, rec.tm or '', rsk == K.spend_prev and A.prev or A.day, status, rec.amt)
end

-- 5. other expired reservations
local swept = res_sweep(K, A.day, A.prev, now, A.maxlen, A.retention_s)

b = b or cb_load(K.cb)
-- today's totals: the values the HINCRBYs above returned, unless the sweep changed them since
if swept > 0 or not reserved then
  local sums = redis.call('HMGET', K.spend, 'cost:total', 'reserved:total')
  spent, reserved = tonumber(sums[1] or '0'), tonumber(sums[2] or '0')
end
return { (status == 'settled' or status == 'settled_direct') and 1 or 0, status,
  spent, reserved, fmt(now), b.state, b.gen }
