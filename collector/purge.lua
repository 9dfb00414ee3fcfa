-- Remove events of one tenant (retention). KEYS[1] events hash, KEYS[2] time index,
-- KEYS[3] seq index, KEYS[4] the tenant's legal hold, then, per event, its nk
-- field-index keys. ARGV: per event: id, member, nk.
-- The seq counter is left alone: seq never goes back, so a purged range stays a gap
-- only at the old end. Returns how many events were removed, or -1 (nothing removed)
-- when the tenant is under legal hold: checked here, in the same atomic step.
if redis.call('EXISTS', KEYS[4]) == 1 then
  return -1
end
local removed = 0
local k = 5
for a = 1, #ARGV, 3 do
  local id, member, nk = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  removed = removed + redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], member)
  redis.call('ZREM', KEYS[3], id)
  for j = k, k + nk - 1 do
    redis.call('ZREM', KEYS[j], member)
  end
  k = k + nk
end
return removed
