-- lib/batch.lua: the end of a batch (gateway/batch/), shared by batch_claim, batch_record and
-- batch_cancel. A batch's keys come in one order in every script:
--   KEYS[1] record (HASH), 2 input lines (HASH index -> line), 3 results of 2xx lines (HASH
--   index -> output line), 4 results of the others (HASH), 5 chunk leases (ZSET 'a:b' -> lease
--   deadline µs), 6 the active batches (ZSET id -> created µs)

local TERMINAL = { completed = true, failed = true, expired = true, cancelled = true }

-- Move the batch to its end if it has reached one, at `now`; returns its status and 1 if this
-- call ended it (else 0), so the caller can log the change.
--   completed: every line has a result (also while cancelling: nothing was left to cancel)
--   cancelled: cancelling, and no chunk is held any more (in-flight lines have finished)
--   expired:   the window has passed and no chunk is held any more
-- Lines without a result at the end keep none here: the error file shows them as
-- batch_cancelled / batch_expired (gateway/batch/files.py), so this stays O(1) in lines.
local function batch_settle(id, now)
  local f = redis.call('HMGET', KEYS[1], 'status', 'total', 'n_ok', 'n_err', 'expires_us')
  local status = f[1]
  if not status or TERMINAL[status] then return status, 0 end
  local total, done = tonumber(f[2]), tonumber(f[3]) + tonumber(f[4])
  local held = redis.call('ZCOUNT', KEYS[5], '(' .. fmt(now), '+inf')
  local final
  if done >= total then
    final = 'completed'
  elseif held == 0 and status == 'cancelling' then
    final = 'cancelled'
  elseif held == 0 and now >= tonumber(f[5]) then
    final = 'expired'
  else
    return status, 0
  end
  redis.call('HSET', KEYS[1], 'status', final, final .. '_us', fmt(now), 'n_left', fmt(total - done))
  redis.call('ZREM', KEYS[6], id)
  redis.call('DEL', KEYS[5])
  if final == 'completed' then  -- its output is whole at once (the files are views of the results)
    redis.call('HSET', KEYS[1], 'finalizing_us', fmt(now))
    redis.call('DEL', KEYS[2])     -- no line is left to show as not run
  end
  return final, 1
end
