-- uses: util batch
-- batch_cancel: the owner stops a batch. No chunk is handed out any more; lines already running
-- finish and keep their results; the batch is `cancelling` until no chunk is held, then
-- `cancelled` (at once when none is). A batch that has ended is left as it is.
-- KEYS: the batch's six (lib/batch.lua)
-- ARGV: 1 batch id, 2 owner
-- Returns {found 0|1, status after it, now_us (string), changed 0|1}

if #KEYS ~= 6 or #ARGV ~= 2 then error('ERR wrong number of keys or arguments') end
local id, owner = str_arg(ARGV[1], 'id'), str_arg(ARGV[2], 'owner')
local now = now_us()
local f = redis.call('HMGET', KEYS[1], 'status', 'owner')
if not f[1] or f[2] ~= owner then return { 0, '', fmt(now), 0 } end
local changed = 0
if f[1] == 'validating' or f[1] == 'in_progress' then
  redis.call('HSET', KEYS[1], 'status', 'cancelling', 'cancelling_us', fmt(now))
  changed = 1
end
return { 1, (batch_settle(id, now)), fmt(now), changed }
