-- uses: util spend
-- fold: adds settled requests' per-dimension counters from the ledger to the spend hashes.
-- Settle counts at once only what admission reads (cost:total, cost:key:<k>, reserved:*) and
-- appends a ledger entry marked `fold 1`; this script adds the rest in batches: req, in, out
-- (and cost, but for the key) per key, model, provider, task, route, deployment and arm; the
-- totals of req, in, out and cached tokens; cached tokens per model; an arm's latency sum and
-- failures; and the (model, task) token sums of successful calls. Per request that is a tenth
-- of the engine time of doing it in settle. Atomic, and idempotent through the cursor (the
-- last folded entry id), so every replica may run it at any time.
-- Entries without the mark (orphans, releases, settles of an older version that counted
-- everything themselves) are passed over.
--
-- KEYS: 1 ledger, 2 cursor, 3 tokstats, 4 spend:<day>, 5 spend:<prev day>
-- ARGV: 1 max entries, 2 day, 3 prev day, 4 retention_s
-- Returns {entries passed, cursor (string), the day of an entry that is neither day nor prev
--          day ('' if none): the batch stopped before it; call again with that day's keys}

if #KEYS ~= 5 or #ARGV ~= 4 then error('ERR wrong number of keys or arguments') end
local max = int_arg(ARGV[1], 'max entries', 1)
local day, prev = str_arg(ARGV[2], 'day'), str_arg(ARGV[3], 'prev_day')
local retention_s = int_arg(ARGV[4], 'retention_s', 1)
local K = { ledger = KEYS[1], cursor = KEYS[2], tokstats = KEYS[3], spend = KEYS[4], spend_prev = KEYS[5] }

local cursor = redis.call('GET', K.cursor) or '0-0'
local entries = redis.call('XRANGE', K.ledger, '(' .. cursor, '+', 'COUNT', max)

-- Sums per spend key: dims[d][name] = {cost, req, in, out}; totals; cached per model;
-- arm latency and failures. Field names are built once per batch, not once per entry.
local DIMS = { 'key', 'model', 'provider', 'task', 'route', 'deployment', 'arm' }
local sums = {}
local function sums_of(sk)
  local s = sums[sk]
  if not s then
    s = { dims = {}, req = 0, tin = 0, tout = 0, cached = 0, cached_model = {}, arm_ms = {}, arm_fail = {} }
    for _, d in ipairs(DIMS) do s.dims[d] = {} end
    sums[sk] = s
  end
  return s
end
local function add4(t, name, cost, tin, tout)
  local v = t[name]
  if v then v[1], v[2], v[3], v[4] = v[1] + cost, v[2] + 1, v[3] + tin, v[4] + tout
  else t[name] = { cost, 1, tin, tout } end
end
local tok = {}  -- '<model>:<task>' -> {n, in, out}

-- The marked layout (see settle.lua): fold 1 req_id _ status _ day _ key _ deployment _
-- provider _ model _ task _ route _ arm _ cost _ reserved _ in _ out _ cached _ outcome _ ...
local passed, stop = 0, ''
for _, e in ipairs(entries) do
  local f = e[2]
  if f[1] == 'fold' then
    local sk = (f[8] == day and K.spend) or (f[8] == prev and K.spend_prev)
    if not sk then stop = f[8]; break end
    local s = sums_of(sk)
    local cost, tin, tout, cached = tonumber(f[24]), tonumber(f[28]), tonumber(f[30]), tonumber(f[32])
    local model, arm = f[16], f[22]
    add4(s.dims.key, f[10], cost, tin, tout)
    add4(s.dims.deployment, f[12], cost, tin, tout)
    add4(s.dims.provider, f[14], cost, tin, tout)
    add4(s.dims.model, model, cost, tin, tout)
    add4(s.dims.task, f[18], cost, tin, tout)
    add4(s.dims.route, f[20], cost, tin, tout)
    s.req, s.tin, s.tout, s.cached = s.req + 1, s.tin + tin, s.tout + tout, s.cached + cached
    s.cached_model[model] = (s.cached_model[model] or 0) + cached
    if arm ~= '-' then
      add4(s.dims.arm, arm, cost, tin, tout)
      s.arm_ms[arm] = (s.arm_ms[arm] or 0) + tonumber(f[36])
      if f[34] == 'failure' then s.arm_fail[arm] = (s.arm_fail[arm] or 0) + 1 end
    end
    if f[34] == 'success' then
      local mt = model .. ':' .. f[18]
      local v = tok[mt]
      if v then v[1], v[2], v[3] = v[1] + 1, v[2] + tin, v[3] + tout else tok[mt] = { 1, tin, tout } end
    end
  end
  cursor = e[1]
  passed = passed + 1
end

for sk, s in pairs(sums) do
  local deltas = { ['req:total'] = s.req, ['in:total'] = s.tin, ['out:total'] = s.tout,
    ['cached:total'] = s.cached }
  for d, names in pairs(s.dims) do
    for name, v in pairs(names) do
      local tail = ':' .. d .. ':' .. name
      if d ~= 'key' then deltas['cost' .. tail] = v[1] end  -- settle counted the key's cost
      deltas['req' .. tail], deltas['in' .. tail], deltas['out' .. tail] = v[2], v[3], v[4]
    end
  end
  for m, v in pairs(s.cached_model) do deltas['cached:model:' .. m] = v end
  for a, v in pairs(s.arm_ms) do deltas['ms:arm:' .. a] = v end
  for a, v in pairs(s.arm_fail) do deltas['fail:arm:' .. a] = v end
  hash_add(sk, deltas)
  redis.call('EXPIRE', sk, retention_s)
end
local tdeltas = {}
for mt, v in pairs(tok) do
  tdeltas['n:' .. mt], tdeltas['in:' .. mt], tdeltas['out:' .. mt] = v[1], v[2], v[3]
end
hash_add(K.tokstats, tdeltas)
if passed > 0 then redis.call('SET', K.cursor, cursor) end
return { passed, cursor, stop }
