-- Compact posting lists after a purge: drop the members whose event is gone.
-- KEYS[1] the tenant's events hash, KEYS[2] its legal hold, KEYS[3] a scratch key (one per
-- tenant: a purge compacts under the retention lock), KEYS[4..] posting lists
-- (collector.postings). ARGV[1] the byte of the list to go on from (0: start over),
-- ARGV[2] the most bytes of a list to read in this call.
-- Each list is read from ARGV[1] on; its members whose event is still there go to the
-- scratch key, and the call that reaches the list's end renames the scratch key over it
-- (deletes the list when nothing is left; leaves it as it is when nothing was gone). A
-- list longer than ARGV[2] is compacted a slice a call: the call stops there and returns
-- where to go on in which list (the caller goes on with that list alone, and the lists
-- after it later), and the last slice also reads what the store appended meanwhile, so
-- nothing appended is lost and no call reads more than a slice a list.
-- Returns {next byte (-1: every list done), members dropped, the unfinished list's place
-- among KEYS[4..] (0 the first)}, or {-2, 0, 0} under a legal hold (the scratch key
-- cleared, the lists untouched).
--
-- A purge step leaves the lists alone and the purge compacts each list once, after its
-- walk has passed the list's bucket: rewriting a bucket's list at every step of 250
-- events made purging a busy bucket quadratic (40,000 events of one type in one hour:
-- 6 s of Redis, docs/limits.md). Members of events that are still there (kept for the
-- integrity tree, or stored meanwhile) stay.
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('DEL', KEYS[3])
  return {-2, 0, 0}
end
local from, most = tonumber(ARGV[1]), tonumber(ARGV[2])
local dropped = 0
for i = 4, #KEYS do
  local list = KEYS[i]
  if from == 0 then
    redis.call('DEL', KEYS[3])
  end
  local size = redis.call('STRLEN', list)
  local upto = math.min(from + most, size)
  local chunk = redis.call('GETRANGE', list, from, upto - 1)
  if upto < size then  -- stop after the last whole member of the slice
    local cut = 0
    for j = #chunk, 1, -1 do
      if string.byte(chunk, j) == 10 then cut = j; break end
    end
    if cut == 0 then  -- no member is anywhere near a slice long: not a posting list
      return redis.error_reply('compact: no whole member in ' .. most .. ' bytes of ' .. list)
    end
    chunk = string.sub(chunk, 1, cut)
  end
  local members, ids = {}, {}
  for m in string.gmatch(chunk, '[^\n]+') do
    members[#members + 1] = m
    ids[#ids + 1] = string.sub(m, string.find(m, '|', 1, true) + 1)
  end
  local left = {}
  -- the ids asked in slices (Lua's unpack takes a few thousand arguments at most)
  for first = 1, #ids, 4000 do
    local last = math.min(first + 3999, #ids)
    local found = redis.call('HMGET', KEYS[1], unpack(ids, first, last))
    for j = 1, last - first + 1 do
      if found[j] then left[#left + 1] = members[first + j - 1] end
    end
  end
  dropped = dropped + #members - #left
  if #left > 0 then
    redis.call('APPEND', KEYS[3], table.concat(left, '\n') .. '\n')
  end
  local next_byte = from + #chunk
  if next_byte < size then
    return {next_byte, dropped, i - 4}  -- the caller goes on with this list alone
  end
  if redis.call('EXISTS', KEYS[3]) == 0 then
    redis.call('DEL', list)
  elseif from > 0 or #left < #members then
    redis.call('RENAME', KEYS[3], list)
  else
    redis.call('DEL', KEYS[3])  -- nothing was gone: the list stays as it is
  end
  from = 0
end
return {-1, dropped, 0}
