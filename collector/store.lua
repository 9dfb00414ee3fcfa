-- Store a batch of one tenant's events, idempotently, in one atomic step.
-- KEYS[1] events hash, KEYS[2] seq counter, KEYS[3] time index, KEYS[4] seq index,
-- KEYS[5] tail signal, KEYS[6] duplicates counter, then, for each event in order, its nk
-- field-index keys.
-- ARGV: for each event: id, member, body (JSON without its closing brace, or its
-- compressed form), nk.
-- Returns, per event, the seq it was stored with, or 0 when the id was already stored.
local out = {}
local k = 7
local last = 0
local duplicates = 0
for a = 1, #ARGV, 4 do
  local id, member, body, nk = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  if redis.call('HEXISTS', KEYS[1], id) == 0 then
    local seq = redis.call('INCR', KEYS[2])
    -- as digits: Lua writes a number it concatenates with "%.14g" (1e+14 from 10^14 on)
    local digits = string.format('%d', seq)
    -- a plain JSON body gets its seq appended; a compressed one ('<dict id>:<frame>')
    -- gets it in front, and the reader appends it (collector.compression)
    if string.byte(body, 1) == 123 then
      redis.call('HSET', KEYS[1], id, body .. ',"seq":' .. digits .. '}')
    else
      redis.call('HSET', KEYS[1], id, 'z' .. digits .. ':' .. body)
    end
    redis.call('ZADD', KEYS[3], 0, member)
    redis.call('ZADD', KEYS[4], seq, id)
    for j = k, k + nk - 1 do
      redis.call('ZADD', KEYS[j], 0, member)
    end
    out[#out + 1] = seq
    last = seq
  else
    out[#out + 1] = 0
    duplicates = duplicates + 1
  end
  k = k + nk
end
-- one small entry per call that stored anything wakes the tenant's live tails; one entry
-- is all they need (XREAD returns whatever is newer than the id they saw last)
if last > 0 then
  redis.call('XADD', KEYS[5], 'MAXLEN', '1', '*', 'seq', last)
end
-- the system-wide count of duplicate deliveries (audit_events_duplicate_total)
if duplicates > 0 then
  redis.call('INCRBY', KEYS[6], duplicates)
end
return out
