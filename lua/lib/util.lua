-- lib/util.lua: engine clock, strict argument parsing, integer formatting.
-- Every entry script parses ALL its arguments with these before its first write
-- (a script that errors halfway keeps the writes it already made).

-- Engine clock in integer microseconds (about 1.8e15 < 2^53: exact in a double).
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- Integers as decimal strings: tostring() would use %.14g and drop digits.
local format = string.format
local function fmt(x)
  return format('%d', x)
end

-- A decimal integer in [lo, 2^52]; anything else (float, hex, empty) raises.
-- (Locals, not globals: a script parses 20-30 arguments per call and each global costs a lookup.)
local find, type, tonumber = string.find, type, tonumber
local function int_arg(v, name, lo)
  if type(v) ~= 'string' or #v > 16 or not find(v, '^%-?%d+$') then
    error('ERR bad integer argument ' .. name)
  end
  local n = tonumber(v)
  if n < (lo or 0) or n > 4503599627370496 then
    error('ERR argument out of range ' .. name)
  end
  return n
end

-- A non-empty string argument.
local function str_arg(v, name)
  if type(v) ~= 'string' or v == '' then
    error('ERR bad string argument ' .. name)
  end
  return v
end

-- One of the allowed words.
local function enum_arg(v, name, allowed)
  for _, a in ipairs(allowed) do
    if v == a then return v end
  end
  error('ERR bad argument ' .. name)
end

-- ceil(a / b) for a >= 0, b > 0 (integers).
local function ceil_div(a, b)
  return math.floor((a + b - 1) / b)
end

-- HGETALL as a Lua table.
local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end
