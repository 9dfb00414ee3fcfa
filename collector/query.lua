-- One page of a filtered, ordered walk over one tenant's indexes.
-- KEYS[1] events hash, KEYS[2..] the index sets that must all contain a member
-- (the time index when there is no filter). The smallest set is walked; the others
-- are checked with ZSCORE, so the cost follows the most selective filter.
-- ARGV: order ('asc'|'desc'), lo, hi (ZRANGEBYLEX bounds), want (matches), budget
-- (members to examine at most in this call), max_bytes (of documents to return: the
-- first one always, then only while the total stays within it).
-- Returns {done, resume_after, member1, doc1, member2, doc2, ...}; done is 1 when the
-- range is exhausted, 2 when the documents reached max_bytes (resume after the last one
-- returned), else 0 (resume after the last member examined).
local order, lo, hi = ARGV[1], ARGV[2], ARGV[3]
local want, budget, max_bytes = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
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
local bytes = 0
for n, member in ipairs(found) do
  local id = string.sub(member, string.find(member, '|', 1, true) + 1)
  local doc = redis.call('HGET', KEYS[1], id) or false
  if doc then
    if n > 1 and bytes + #doc > max_bytes then
      out[1], out[2] = 2, found[n - 1]
      break
    end
    bytes = bytes + #doc
  end
  out[#out + 1] = member
  out[#out + 1] = doc
end
return out
