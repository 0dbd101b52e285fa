-- uses: util
-- key_write: create, change, rotate or revoke a runtime API key, and append the change to the
-- audit stream, in one step (so a change is never unaudited). The record holds no secret: only
-- the SHA-256 of the key (`hash`), indexed hash -> id; a rotation keeps the replaced hash
-- (`old_hash`) valid until `old_until_us`. Every change bumps `version`, which admit compares
-- with the worker's cached copy. A team's `keys` field counts its live keys (a team in use
-- cannot be deleted). The audit entry's before/after never hold a hash.
-- KEYS: 1 key record, 2 hash index, 3 key list (ZSET by creation), 4 audit stream,
--       5 the record's current team record, 6 the new team record (any key when none)
-- ARGV: 1 op (create|update|rotate|revoke), 2 id, 3 actor, 4 audit_maxlen, 5 new hash ('-'),
--       6 grace_ms (rotate), 7 the team the caller read ('-' none; a concurrent change: 'retry'),
--       then field value pairs (create, update) among FIELDS
-- Returns {status, version, now_us (string)}; status ok | not_found | exists | revoked |
--   no_team | retry

local FIELDS = { name = 1, team = 1, models = 1, rpm = 1, tpm = 1, daily_micro = 1, monthly_micro = 1,
  priority = 1, default_task = 1, expires_us = 1, metadata = 1, guardrail = 1 }
local SECRET = { hash = 1, old_hash = 1 }
if #KEYS ~= 6 or #ARGV < 7 or #ARGV % 2 ~= 1 then error('ERR wrong number of keys or arguments') end
local op = enum_arg(ARGV[1], 'op', { 'create', 'update', 'rotate', 'revoke' })
local id, actor = str_arg(ARGV[2], 'id'), str_arg(ARGV[3], 'actor')
local maxlen = int_arg(ARGV[4], 'audit_maxlen', 1)
local new_hash, grace_ms, seen_team = str_arg(ARGV[5], 'hash'), int_arg(ARGV[6], 'grace_ms'), ARGV[7]
local set = {}
for i = 8, #ARGV, 2 do
  if not FIELDS[ARGV[i]] then error('ERR bad field ' .. ARGV[i]) end
  set[ARGV[i]] = ARGV[i + 1]
end
local now = now_us()
local rec = hgetall(KEYS[1])
local exists = rec.version ~= nil

-- The record without its hashes, as JSON ('null' when absent).
local function public(r)
  if not r.version then return 'null' end
  local t = {}
  for f, v in pairs(r) do if not SECRET[f] then t[f] = v end end
  return cjson.encode(t)
end

if op == 'create' and exists then return { 'exists', tonumber(rec.version), fmt(now) } end
if op ~= 'create' and not exists then return { 'not_found', 0, fmt(now) } end
if op ~= 'create' and rec.revoked == '1' then return { 'revoked', tonumber(rec.version), fmt(now) } end
if (rec.team or '') ~= (seen_team == '-' and '' or seen_team) then return { 'retry', 0, fmt(now) } end
local team_before = rec.team or ''
local team_after = team_before
if set.team ~= nil then team_after = set.team end
if team_after ~= team_before and team_after ~= '' and redis.call('EXISTS', KEYS[6]) == 0 then
  return { 'no_team', 0, fmt(now) }
end

local before = public(rec)
local version = tonumber(rec.version or '0') + 1
local writes = { 'version', fmt(version), 'updated_us', fmt(now) }
for f, v in pairs(set) do writes[#writes + 1] = f; writes[#writes + 1] = v end
if op == 'create' then
  writes[#writes + 1] = 'created_us'; writes[#writes + 1] = fmt(now)
  writes[#writes + 1] = 'revoked'; writes[#writes + 1] = '0'
  writes[#writes + 1] = 'hash'; writes[#writes + 1] = new_hash
  redis.call('HSET', KEYS[2], new_hash, id)
  redis.call('ZADD', KEYS[3], fmt(now), id)
elseif op == 'rotate' then
  -- the hash replaced by an earlier rotation stops now; the current one lives for the grace
  if rec.old_hash then redis.call('HDEL', KEYS[2], rec.old_hash) end
  if grace_ms > 0 then
    writes[#writes + 1] = 'old_hash'; writes[#writes + 1] = rec.hash
    writes[#writes + 1] = 'old_until_us'; writes[#writes + 1] = fmt(now + grace_ms * 1000)
  else
    redis.call('HDEL', KEYS[2], rec.hash)
    redis.call('HDEL', KEYS[1], 'old_hash', 'old_until_us')
  end
  writes[#writes + 1] = 'hash'; writes[#writes + 1] = new_hash
  redis.call('HSET', KEYS[2], new_hash, id)
elseif op == 'revoke' then
  writes[#writes + 1] = 'revoked'; writes[#writes + 1] = '1'
  redis.call('HDEL', KEYS[2], rec.hash)
  if rec.old_hash then redis.call('HDEL', KEYS[2], rec.old_hash) end
  team_after = ''
end
redis.call('HSET', KEYS[1], unpack(writes))
if team_after ~= team_before then
  if team_before ~= '' then redis.call('HINCRBY', KEYS[5], 'keys', -1) end
  if team_after ~= '' then redis.call('HINCRBY', KEYS[6], 'keys', 1) end
end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', maxlen, '*', 'ts_us', fmt(now), 'actor', actor,
  'op', 'key.' .. op, 'id', id, 'before', before, 'after', public(hgetall(KEYS[1])))
return { 'ok', version, fmt(now) }
