-- uses: util
-- batch_stage: store a chunk of a new batch's input lines ahead of lua/batch_create.lua, which
-- then checks that every line is there. A batch's lines come in chunks of their own calls so no
-- one call holds the engine for long (docs/batch.md: 50,000 lines in one call held it 59 ms).
-- Refused once the batch exists: its lines are then only read. Staged lines of a batch never
-- created expire with `ttl_ms`; batch_create gives them the batch's life.
-- KEYS: 1 the batch's record, 2 its input lines (HASH index -> line)
-- ARGV: 1 index of the chunk's first line, 2 ttl_ms, 3.. the lines
-- Returns {stored 0|1, lines staged so far}

if #KEYS ~= 2 or #ARGV < 3 then error('ERR wrong number of keys or arguments') end
local first = int_arg(ARGV[1], 'first', 0)
local ttl = int_arg(ARGV[2], 'ttl_ms', 1)
if redis.call('EXISTS', KEYS[1]) == 1 then return { 0, redis.call('HLEN', KEYS[2]) } end
local args = {}
for j = 3, #ARGV do
  args[#args + 1] = fmt(first + j - 3)
  args[#args + 1] = ARGV[j]
end
redis.call('HSET', KEYS[2], unpack(args))
redis.call('PEXPIRE', KEYS[2], ttl)
return { 1, redis.call('HLEN', KEYS[2]) }
