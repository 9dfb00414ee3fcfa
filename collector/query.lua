-- One bounded step of an ordered walk over one tenant's time index (lists with no field
-- filter; the filters have posting lists, walked by collector.postings).
-- KEYS[1] events hash, KEYS[2] the time index.
-- ARGV: order ('asc'|'desc'), lo, hi (ZRANGEBYLEX bounds), want (events), budget
-- (members to examine at most in this call, so that no call blocks Redis for long).
-- Returns {done, last_examined, examined, member1, doc1, member2, doc2, ...}; done is 1
-- when nothing is left in the range. A member whose event is gone (mid-purge) comes
-- with a false doc: the caller skips it.
local order, lo, hi = ARGV[1], ARGV[2], ARGV[3]
local size = math.min(tonumber(ARGV[4]), tonumber(ARGV[5]))
local page
if order == 'asc' then
  page = redis.call('ZRANGEBYLEX', KEYS[2], lo, hi, 'LIMIT', 0, size)
else
  page = redis.call('ZREVRANGEBYLEX', KEYS[2], hi, lo, 'LIMIT', 0, size)
end
local done = #page < size and 1 or 0
local out = {done, page[#page] or '', #page}
if #page > 0 then
  local ids = {}
  for i, member in ipairs(page) do
    ids[i] = string.sub(member, string.find(member, '|', 1, true) + 1)
  end
  local docs = redis.call('HMGET', KEYS[1], unpack(ids))  -- one call, not one per event
  for i, member in ipairs(page) do
    out[#out + 1] = member
    out[#out + 1] = docs[i]
  end
end
return out
