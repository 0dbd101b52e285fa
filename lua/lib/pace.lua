-- lib/pace.lua: is the day's spend running ahead of its allowance? One state per budget day.
-- allowance = soft budget x (elapsed share of the budget day) + burst, so the first minutes
-- after midnight do not trip it. mode 0: on pace; 1: low priority moves to cheaper candidates;
-- 2: low and normal do. Hysteresis: a mode is left only below `exit` (scaled for mode 2), so
-- decisions do not flap; every replica reads and writes the same hash, so all agree.

-- Spend as a share of the allowance, in permille (an integer; the division is a float).
local function pace_ratio(used, soft, elapsed_us, day_len_us, burst)
  local share = elapsed_us / day_len_us
  if share > 1 then share = 1 end
  if share < 0 then share = 0 end
  local allowance = soft * share + burst
  if allowance <= 0 then return 1000000 end
  return math.floor(used * 1000 / allowance)
end

local function pace_next_mode(mode, r, enter, normal_enter, exit)
  if r >= normal_enter then return 2 end
  if mode == 2 then
    if r < exit then return 0 end
    if r < normal_enter - (enter - exit) then return 1 end
    return 2
  end
  if r >= enter then return 1 end
  if mode == 1 and r >= exit then return 1 end
  return 0
end

-- Read the day's mode, move it by the hysteresis rule, record a change (hash + capped event
-- list for the dashboard's downgrade marks). Returns the new mode.
local function pace_update(k_pace, k_events, now, r, enter, normal_enter, exit)
  local mode = tonumber(redis.call('HGET', k_pace, 'mode') or '0')
  local new = pace_next_mode(mode, r, enter, normal_enter, exit)
  if new ~= mode then
    redis.call('HSET', k_pace, 'mode', fmt(new), 'changed_us', fmt(now), 'ratio_permille', fmt(r))
    redis.call('HINCRBY', k_pace, 'changes', 1)
    redis.call('RPUSH', k_events, fmt(now) .. ':' .. fmt(new) .. ':' .. fmt(r))
    redis.call('LTRIM', k_events, -200, -1)
    redis.call('EXPIRE', k_pace, 172800)
    redis.call('EXPIRE', k_events, 172800)
  end
  return new
end
