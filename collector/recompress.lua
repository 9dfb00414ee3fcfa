-- Replace stored bodies with their compressed form, each only if it is still the value
-- that was read (compare and set), so a concurrent change is never overwritten.
-- KEYS[1] the tenant's events hash. ARGV: for each body: id, the value read, the new value.
-- Returns how many were replaced.
local replaced = 0
for a = 1, #ARGV, 3 do
  if redis.call('HGET', KEYS[1], ARGV[a]) == ARGV[a + 1] then
    redis.call('HSET', KEYS[1], ARGV[a], ARGV[a + 2])
    replaced = replaced + 1
  end
end
return replaced
