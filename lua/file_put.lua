-- uses: util
-- file_put: keep one uploaded file of the Files API (purpose `batch`, gateway/batch/) for its
-- owner (an API key: `cfg:<name>` or `rt:<id>`), `ttl_ms` long. A file over `max_bytes` is not
-- kept; an id already taken is not overwritten (ids are random: a repeat is a bug upstream).
-- KEYS: 1 the file (HASH: owner purpose filename bytes lines created_us expires_us data)
-- ARGV: 1 owner, 2 purpose, 3 filename, 4 data, 5 lines, 6 ttl_ms, 7 max_bytes
-- Returns {stored 0|1, reason ('' | too_large | exists), now_us (string)}

if #KEYS ~= 1 or #ARGV ~= 7 then error('ERR wrong number of keys or arguments') end
local owner = str_arg(ARGV[1], 'owner')
local purpose = enum_arg(ARGV[2], 'purpose', { 'batch' })
local filename = str_arg(ARGV[3], 'filename')
local data = ARGV[4]
local lines = int_arg(ARGV[5], 'lines', 0)
local ttl = int_arg(ARGV[6], 'ttl_ms', 1)
local max_bytes = int_arg(ARGV[7], 'max_bytes', 1)
local now = now_us()
if #data > max_bytes then return { 0, 'too_large', fmt(now) } end
if redis.call('EXISTS', KEYS[1]) == 1 then return { 0, 'exists', fmt(now) } end
redis.call('HSET', KEYS[1], 'owner', owner, 'purpose', purpose, 'filename', filename, 'bytes', fmt(#data),
  'lines', fmt(lines), 'created_us', fmt(now), 'expires_us', fmt(now + ttl * 1000), 'data', data)
redis.call('PEXPIRE', KEYS[1], ttl)
return { 1, '', fmt(now) }
