-- Publish a signed checkpoint unless a checkpoint as large is already the latest.
-- KEYS[1] the latest checkpoint (a note), KEYS[2] every checkpoint, scored by tree size.
-- ARGV[1] tree size, ARGV[2] the signed note.
-- Returns 1 when published, 0 when the latest was as large (the latest never shrinks).
local latest = redis.call('GET', KEYS[1])
if latest then
  local size = tonumber(string.match(latest, '^[^\n]*\n(%d+)\n'))
  if size and size >= tonumber(ARGV[1]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
return 1
