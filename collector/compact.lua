-- Compact posting lists after a purge: drop the members whose event is gone.
-- KEYS[1] the tenant's events hash, KEYS[2] its legal hold (nothing is touched while it
-- exists: -1), KEYS[3..] posting lists (collector.postings).
-- A list whose members are all gone is deleted; one with none gone is left as it is.
-- Returns how many members were dropped.
--
-- A purge step leaves the lists alone and the purge compacts each list once, after its
-- walk has passed the list's bucket: rewriting a bucket's list at every step of 250
-- events made purging a busy bucket quadratic (40,000 events of one type in one hour:
-- 6 s of Redis, docs/limits.md). Members of events that are still there (kept for the
-- integrity tree, or stored meanwhile) stay. The caller sends lists of up to 64 KB
-- together; a longer one goes to compact_big.lua, a slice a call.
if redis.call('EXISTS', KEYS[2]) == 1 then
  return -1
end
local dropped = 0
for i = 3, #KEYS do
  local value = redis.call('GET', KEYS[i])
  if value then
    local members, ids = {}, {}
    for m in string.gmatch(value, '[^\n]+') do
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
    if #left == 0 then
      redis.call('DEL', KEYS[i])
    elseif #left < #members then
      redis.call('SET', KEYS[i], table.concat(left, '\n') .. '\n')
    end
  end
end
return dropped
