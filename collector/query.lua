-- One page of a filtered, ordered walk over one tenant's indexes.
-- KEYS[1] events hash, KEYS[2..] the index sets that must all contain a member
-- (the time index when there is no filter). The smallest set is walked; the others
-- are checked with ZSCORE, so the cost follows the most selective filter.
-- ARGV: order ('asc'|'desc'), lo, hi (ZRANGEBYLEX bounds), want (matches), budget
-- (members to examine at most in this call).
-- Returns {done, last_examined, member1, doc1, member2, doc2, ...}; done is 1 when
-- the range is exhausted.
local order, lo, hi = ARGV[1], ARGV[2], ARGV[3]
local want, budget = tonumber(ARGV[4]), tonumber(ARGV[5])
local walk, walk_size = 2, redis.call('ZCARD', KEYS[2])
for i = 3, #KEYS do
  local size = redis.call('ZCARD', KEYS[i])
  if size < walk_size then walk, walk_size = i, size end
end
local found, examined, last, done = {}, 0, '', 0
local chunk = math.min(math.max(want * 2, 64), 1000)
while #found < want and examined < budget do
  local page
  if order == 'asc' then
    page = redis.call('ZRANGEBYLEX', KEYS[walk], lo, hi, 'LIMIT', 0, chunk)
  else
    page = redis.call('ZREVRANGEBYLEX', KEYS[walk], hi, lo, 'LIMIT', 0, chunk)
  end
  if #page == 0 then done = 1; break end
  for _, member in ipairs(page) do
    examined = examined + 1
    last = member
    local ok = true
    for i = 2, #KEYS do
      if i ~= walk and not redis.call('ZSCORE', KEYS[i], member) then ok = false; break end
    end
    if ok then found[#found + 1] = member end
    if #found >= want or examined >= budget then break end
  end
  if #page < chunk and #found < want and examined < budget then done = 1; break end
  if order == 'asc' then lo = '(' .. last else hi = '(' .. last end
end
local out = {done, last}
for _, member in ipairs(found) do
  local id = string.sub(member, string.find(member, '|', 1, true) + 1)
  out[#out + 1] = member
  out[#out + 1] = redis.call('HGET', KEYS[1], id) or false
end
return out
