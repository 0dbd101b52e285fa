-- uses: util breaker
-- breaker_report: an outcome seen outside a request (the active health probe).
-- gen -1 means "the current generation" (an open breaker whose cooldown passed counts as
-- half_open, so a healthy probe result closes it; a failing one reopens it).
-- The probe is one source of its own ('_probe') for the breaker's distinct-sources rule.
-- KEYS: 1 breaker   ARGV: 1 outcome (success|failure|neutral), 2 gen (-1 = current)
-- Returns {state, gen, now_us (string)}

if #KEYS ~= 1 or #ARGV ~= 2 then error('ERR wrong number of keys or arguments') end
local outcome = enum_arg(ARGV[1], 'outcome', { 'success', 'failure', 'neutral' })
local gen = int_arg(ARGV[2], 'gen', -1)
local now = now_us()
local b = cb_load(KEYS[1])
local before = b.gen
cb_effective(b, now)
if gen < 0 then gen = b.gen end
local changed = cb_report(b, now, gen, outcome, '', '_probe')
if changed or b.gen ~= before then cb_save(KEYS[1], b) end
return { b.state, b.gen, fmt(now) }
