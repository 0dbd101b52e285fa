-- uses: util
-- team_write: create, change or delete a team (its limits bind every key in it, read by admit
-- from this record, so a change binds at once), and append the change to the audit stream.
-- A team whose `keys` count (live keys in it, kept by key_write.lua) is not 0 is not deleted.
-- KEYS: 1 team record, 2 team list (ZSET by creation), 3 audit stream
-- ARGV: 1 op (create|update|delete), 2 id, 3 actor, 4 audit_maxlen, then field value pairs
--       (create, update) among FIELDS
-- Returns {status, version, now_us (string)}; status ok | not_found | exists | in_use

local FIELDS = { rpm = 1, tpm = 1, daily_micro = 1, monthly_micro = 1, metadata = 1, guardrail = 1 }
if #KEYS ~= 3 or #ARGV < 4 or #ARGV % 2 ~= 0 then error('ERR wrong number of keys or arguments') end
local op = enum_arg(ARGV[1], 'op', { 'create', 'update', 'delete' })
local id, actor = str_arg(ARGV[2], 'id'), str_arg(ARGV[3], 'actor')
local maxlen = int_arg(ARGV[4], 'audit_maxlen', 1)
local writes = {}
for i = 5, #ARGV, 2 do
  if not FIELDS[ARGV[i]] then error('ERR bad field ' .. ARGV[i]) end
  writes[#writes + 1] = ARGV[i]; writes[#writes + 1] = ARGV[i + 1]
end
local now = now_us()
local rec = hgetall(KEYS[1])
local exists = rec.version ~= nil
if op == 'create' and exists then return { 'exists', tonumber(rec.version), fmt(now) } end
if op ~= 'create' and not exists then return { 'not_found', 0, fmt(now) } end
if op == 'delete' and tonumber(rec.keys or '0') > 0 then return { 'in_use', tonumber(rec.version), fmt(now) } end

local before = exists and cjson.encode(rec) or 'null'
local version = tonumber(rec.version or '0') + 1
local after = 'null'
if op == 'delete' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], id)
else
  writes[#writes + 1] = 'version'; writes[#writes + 1] = fmt(version)
  writes[#writes + 1] = 'updated_us'; writes[#writes + 1] = fmt(now)
  if op == 'create' then
    writes[#writes + 1] = 'created_us'; writes[#writes + 1] = fmt(now)
    writes[#writes + 1] = 'keys'; writes[#writes + 1] = '0'
    redis.call('ZADD', KEYS[2], fmt(now), id)
  end
  redis.call('HSET', KEYS[1], unpack(writes))
  after = cjson.encode(hgetall(KEYS[1]))
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', maxlen, '*', 'ts_us', fmt(now), 'actor', actor,
  'op', 'team.' .. op, 'id', id, 'before', before, 'after', after)
return { 'ok', version, fmt(now) }
