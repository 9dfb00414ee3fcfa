-- Remove events of one tenant (retention). KEYS[1] events hash, KEYS[2] time index,
-- KEYS[3] seq index, then, per event, its nk field-index keys. ARGV: per event: id, member, nk.
-- The seq counter is left alone: seq never goes back, so a purged range stays a gap
-- only at the old end. Returns how many events were removed.
local removed = 0
local k = 4
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
