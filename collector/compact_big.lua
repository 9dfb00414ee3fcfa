-- Compact one big posting list in slices: each call reads at most ARGV[2] bytes of it
-- from byte ARGV[1] on, and appends the members whose event is still there to a scratch
-- key; the call that reaches the list's end swaps the scratch key in (or deletes the
-- list when nothing is left). What the store appended meanwhile is read by that last
-- call too, so nothing appended is lost, and no call reads more than a slice.
-- KEYS[1] events hash, KEYS[2] legal hold, KEYS[3] the list, KEYS[4] the scratch key
-- (one per tenant: a purge compacts one big list at a time, under the retention lock).
-- ARGV[1] the byte to go on from (0: start over, the scratch key is cleared), ARGV[2]
-- the most bytes to read. Returns {next byte (-1: done), members dropped}, or {-2, 0}
-- under a legal hold (the scratch key deleted, the list untouched).
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('DEL', KEYS[4])
  return {-2, 0}
end
local from, most = tonumber(ARGV[1]), tonumber(ARGV[2])
if from == 0 then
  redis.call('DEL', KEYS[4])
end
local size = redis.call('STRLEN', KEYS[3])
local upto = math.min(from + most, size)
local chunk = redis.call('GETRANGE', KEYS[3], from, upto - 1)
if upto < size then  -- stop after the last whole member of the slice
  local cut = 0
  for i = #chunk, 1, -1 do
    if string.byte(chunk, i) == 10 then cut = i; break end
  end
  if cut == 0 then  -- no member is anywhere near a slice long: not a posting list
    return redis.error_reply('compact_big: no whole member in ' .. most .. ' bytes')
  end
  chunk = string.sub(chunk, 1, cut)
end
local members, ids = {}, {}
for m in string.gmatch(chunk, '[^\n]+') do
  members[#members + 1] = m
  ids[#ids + 1] = string.sub(m, string.find(m, '|', 1, true) + 1)
end
local left = {}
for first = 1, #ids, 4000 do
  local last = math.min(first + 3999, #ids)
  local found = redis.call('HMGET', KEYS[1], unpack(ids, first, last))
  for j = 1, last - first + 1 do
    if found[j] then left[#left + 1] = members[first + j - 1] end
  end
end
if #left > 0 then
  redis.call('APPEND', KEYS[4], table.concat(left, '\n') .. '\n')
end
local dropped = #members - #left
local next_byte = from + #chunk
if next_byte < size then
  return {next_byte, dropped}
end
if redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('RENAME', KEYS[4], KEYS[3])
else
  redis.call('DEL', KEYS[3])
end
return {-1, dropped}
