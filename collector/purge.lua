-- Remove events of one tenant (retention). KEYS[1] events hash, KEYS[2] time index,
-- KEYS[3] seq index, KEYS[4] integrity tree size, KEYS[5] purged-seq bitmap, KEYS[6] the
-- tenant's legal hold (nothing is removed while it exists: {-1, 0}), then, per event,
-- its nk posting lists (collector.postings), from which its member is removed.
-- ARGV[1] '1' when integrity is on; then per event: id, member, nk.
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
local k = 7
local drop, drop_order = {}, {}  -- posting list -> members to take out of it
for a = 2, #ARGV, 3 do
  local id, member, nk = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
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
    for j = k, k + nk - 1 do
      local key = KEYS[j]
      if drop[key] == nil then
        drop[key] = {}
        drop_order[#drop_order + 1] = key
      end
      drop[key][member] = true
    end
  end
  k = k + nk
end
-- each list touched is rewritten once, without its purged members (a list is one bucket:
-- an hour or a day of one filter value)
for _, key in ipairs(drop_order) do
  local value = redis.call('GET', key)
  if value then
    local left, gone = {}, drop[key]
    for m in string.gmatch(value, '[^\n]+') do
      if not gone[m] then left[#left + 1] = m end
    end
    if #left == 0 then
      redis.call('DEL', key)
    else
      redis.call('SET', key, table.concat(left, '\n') .. '\n')
    end
  end
end
return {removed, kept}
