-- uses: util
-- batch_create: a batch of the Batch API (gateway/batch/) over an uploaded input file the same
-- owner holds, its lines already validated by the caller and stored by lua/batch_stage.lua (in
-- chunks, so no call holds the engine long). Valid: status `validating` (the first chunk a worker
-- claims makes it `in_progress`), all `n` staged lines kept for the batch's life, the batch listed
-- as active. Invalid (`errors` given): status `failed` at once, with the errors and no line.
-- Every key of the batch lives `window_s` + `keep_ms`; the lists drop ids older than that.
-- KEYS: 1 record, 2 input lines, 3 ok results, 4 error results, 5 leases, 6 active batches,
--       7 every batch (ZSET id -> created µs), 8 the owner's batches (ZSET), 9 the input file
-- ARGV: 1 id, 2 owner, 3 endpoint, 4 input_file_id, 5 window_s, 6 keep_ms, 7 metadata JSON
--       ('' none), 8 errors JSON ('' valid), 9 n lines (staged)
-- Returns {created 0|1, status or reason (no_file | exists | unstaged), now_us (string)}

if #KEYS ~= 9 or #ARGV ~= 9 then error('ERR wrong number of keys or arguments') end
local id, owner = str_arg(ARGV[1], 'id'), str_arg(ARGV[2], 'owner')
local endpoint, input = str_arg(ARGV[3], 'endpoint'), str_arg(ARGV[4], 'input_file_id')
local window = int_arg(ARGV[5], 'window_s', 1)
local keep = int_arg(ARGV[6], 'keep_ms', 1)
local metadata, errors = ARGV[7], ARGV[8]
local n = int_arg(ARGV[9], 'lines', 0)
if errors == '' and n == 0 then error('ERR bad argument lines') end
local now = now_us()
if redis.call('EXISTS', KEYS[1]) == 1 then return { 0, 'exists', fmt(now) } end
if redis.call('HGET', KEYS[9], 'owner') ~= owner then
  redis.call('UNLINK', KEYS[2])  -- lines staged for a batch that will not be
  return { 0, 'no_file', fmt(now) }
end
if errors == '' and redis.call('HLEN', KEYS[2]) ~= n then
  redis.call('UNLINK', KEYS[2])
  return { 0, 'unstaged', fmt(now) }
end

local life_ms = window * 1000 + keep
local status = errors == '' and 'validating' or 'failed'
redis.call('HSET', KEYS[1], 'owner', owner, 'endpoint', endpoint, 'input_file_id', input, 'status', status,
  'created_us', fmt(now), 'expires_us', fmt(now + window * 1000000), 'total', fmt(n), 'next', '0',
  'n_ok', '0', 'n_err', '0', 'n_left', '0', 'bytes_ok', '0', 'bytes_err', '0')
if metadata ~= '' then redis.call('HSET', KEYS[1], 'metadata', metadata) end
if status == 'failed' then
  redis.call('HSET', KEYS[1], 'errors', errors, 'failed_us', fmt(now))
else
  redis.call('PEXPIRE', KEYS[2], life_ms)
  redis.call('ZADD', KEYS[6], now, id)
end
redis.call('PEXPIRE', KEYS[1], life_ms)
-- the lists forget batches whose keys have expired (their records are gone)
for _, list in ipairs({ KEYS[7], KEYS[8] }) do
  redis.call('ZREMRANGEBYSCORE', list, '-inf', '(' .. fmt(now - life_ms * 1000))
  redis.call('ZADD', list, now, id)
  redis.call('PEXPIRE', list, life_ms)
end
return { 1, status, fmt(now) }
