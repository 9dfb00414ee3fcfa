-- Store a batch of one tenant's events, idempotently, in one atomic step.
-- KEYS[1] events hash, KEYS[2] seq counter, KEYS[3] time index, KEYS[4] seq index,
-- KEYS[5] tail signal, KEYS[6] duplicates counter, then, for each event in order, its nk
-- posting lists (collector.postings): the member is appended to each, with a newline.
-- ARGV: for each event: id, member, body (JSON without its closing brace, or its
-- compressed form), nk.
-- Returns, per event, the seq it was stored with, or 0 when the id was already stored
-- (before this call, or earlier in this batch).
--
-- Each key is written once per call, with every new event's member at once: one ZADD or
-- APPEND per key instead of one per event saves ~1.5 us of Redis CPU per member
-- (docs/benchmarks.md), and a batch's events share their time index, type and service.
-- one command per key, its arguments in slices (Lua's unpack takes a few thousand at
-- most); calls `each` with every reply
local function sliced(command, key, args, each)
  for i = 1, #args, 4000 do
    local reply = redis.call(command, key, unpack(args, i, math.min(i + 3999, #args)))
    if each then each(i, reply) end
  end
end

local out = {}
local k = 7
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
local first = seq
local bodies, by_time, by_seq = {}, {}, {}
local by_key, key_order = {}, {}
local duplicates = 0
-- ids stored already, and then also those stored earlier in this batch: one HMGET for
-- the batch, not an HEXISTS per event
local ids, stored = {}, {}
for a = 1, #ARGV, 4 do
  ids[#ids + 1] = ARGV[a]
end
sliced('HMGET', KEYS[1], ids, function(i, found)
  for j, value in ipairs(found) do
    if value then stored[ids[i + j - 1]] = true end
  end
end)
for a = 1, #ARGV, 4 do
  local id, member, body, nk = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  if not stored[id] then
    stored[id] = true
    seq = seq + 1
    -- as digits: Lua writes a number it concatenates with "%.14g" (1e+14 from 10^14 on)
    local digits = string.format('%d', seq)
    bodies[#bodies + 1] = id
    -- a plain JSON body gets its seq appended; a compressed one ('<dict id>:<frame>')
    -- gets it in front, and the reader appends it (collector.compression)
    if string.byte(body, 1) == 123 then
      bodies[#bodies + 1] = body .. ',"seq":' .. digits .. '}'
    else
      bodies[#bodies + 1] = 'z' .. digits .. ':' .. body
    end
    by_time[#by_time + 1] = 0
    by_time[#by_time + 1] = member
    by_seq[#by_seq + 1] = digits
    by_seq[#by_seq + 1] = id
    for j = k, k + nk - 1 do
      local key = KEYS[j]
      local members = by_key[key]
      if members == nil then
        members = {}
        by_key[key] = members
        key_order[#key_order + 1] = key
      end
      members[#members + 1] = member
    end
    out[#out + 1] = seq
  else
    out[#out + 1] = 0
    duplicates = duplicates + 1
  end
  k = k + nk
end

if seq > first then
  redis.call('SET', KEYS[2], string.format('%d', seq))
  sliced('HSET', KEYS[1], bodies)
  sliced('ZADD', KEYS[3], by_time)
  sliced('ZADD', KEYS[4], by_seq)
  for _, key in ipairs(key_order) do
    redis.call('APPEND', key, table.concat(by_key[key], '\n') .. '\n')
  end
  -- one small entry per call that stored anything wakes the tenant's live tails; one
  -- entry is all they need (XREAD returns whatever is newer than the id they saw last)
  redis.call('XADD', KEYS[5], 'MAXLEN', '1', '*', 'seq', string.format('%d', seq))
end
-- the system-wide count of duplicate deliveries (audit_events_duplicate_total)
if duplicates > 0 then
  redis.call('INCRBY', KEYS[6], duplicates)
end
return out
