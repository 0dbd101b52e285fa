-- uses: util gcra breaker reserve
-- release: drop a reservation with zero cost (the request failed before any upstream token, or
-- its caller gave up on the admit). The request buckets keep what admit took; the token
-- buckets get the reserved tokens back. A released probe frees the probe lease.
-- KEYS: 1 req record, 2 res, 3 resdl, 4 spend:<reservation day>, 5 spend:<day before>,
--       6 ledger, 7 breaker of the reserved deployment, 8 key tpm, 9 deployment tpm,
--       10 team tpm, 11 spendm:<month of day>, 12 spendm:<month of the day before>
-- ARGV: 1 req_id, 2 day, 3 prev_day, 4 ledger_maxlen
-- Returns {released (0/1), now_us (string)}

if #KEYS ~= 12 or #ARGV ~= 4 then error('ERR wrong number of keys or arguments') end
local req_id = str_arg(ARGV[1], 'req_id')
local day, prev = str_arg(ARGV[2], 'day'), str_arg(ARGV[3], 'prev_day')
local maxlen = int_arg(ARGV[4], 'ledger_maxlen', 1)
local now = now_us()
local rec = res_get(KEYS[2], req_id)
if not rec then return { 0, fmt(now) } end
local sk, mk = res_spend_key(rec, day, prev,
  { spend = KEYS[4], spend_prev = KEYS[5], month = KEYS[11], month_prev = KEYS[12] })
if sk then res_count(sk, mk, rec, -tonumber(rec.amt)) end
res_drop(KEYS[2], KEYS[3], req_id)
local kt, dt = tonumber(rec.kt or '0'), tonumber(rec.dt or '0')
if kt > 0 then gcra_adjust(KEYS[8], now, kt, -tonumber(rec.ek)) end
if dt > 0 then gcra_adjust(KEYS[9], now, dt, -tonumber(rec.ed)) end
local tt = tonumber(rec.tt or '0')
if tt > 0 then gcra_adjust(KEYS[10], now, tt, -tonumber(rec.et)) end
if rec.probe == '1' then
  local b = cb_load(KEYS[7])
  if cb_report(b, now, tonumber(rec.gen), 'neutral', req_id, '') then cb_save(KEYS[7], b) end
end
redis.call('XADD', KEYS[6], 'MAXLEN', '~', maxlen, '*', 'req_id', req_id, 'status', 'released',
  'day', rec.day, 'key', rec.key, 'deployment', rec.dep, 'cost', '0', 'reserved', rec.amt,
  'ts_us', fmt(now))
redis.call('HSET', KEYS[1], 'state', 'released')
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], 86400000) end
return { 1, fmt(now) }
