-- Remove events of one tenant (retention). KEYS[1] events hash, KEYS[2] time index,
-- KEYS[3] seq index, KEYS[4] integrity tree size, KEYS[5] purged-seq bitmap, KEYS[6] the
-- tenant's legal hold (nothing is removed while it exists: {-1, 0}).
-- ARGV[1] '1' when integrity is on; then per event: id, member.
-- The posting lists are not touched here: the purge compacts each once, after its walk
-- has passed the list's bucket (compact.lua).
-- With integrity on, an event not yet in the tree (seq > tree size) is kept until it is:
-- its leaf hash is computed from it. Each purged seq gets its bit set, so verify reports
-- it as purged by policy, not missing. The seq counter is left alone: seq never goes back.
-- Returns {events removed, events kept for the tree}.
if redis.call('EXISTS', KEYS[6]) == 1 then
  return {-1, 0}
end
local removed, kept = 0, 0
local integrated = math.huge
if ARGV[1] == '1' then
  integrated = tonumber(redis.call('GET', KEYS[4]) or '0')
end
for a = 2, #ARGV, 2 do
  local id, member = ARGV[a], ARGV[a + 1]
  local seq = tonumber(redis.call('ZSCORE', KEYS[3], id) or '0')
  if seq > integrated then
    kept = kept + 1
  else
    removed = removed + redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], member)
    redis.call('ZREM', KEYS[3], id)
    if seq > 0 then
      redis.call('SETBIT', KEYS[5], seq, 1)
    end
  end
end
return {removed, kept}
