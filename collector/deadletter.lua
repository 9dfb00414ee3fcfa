-- Add a dead letter once per source entry, however often it is redelivered.
-- KEYS[1] the dead-letter stream, KEYS[2] the marker of the source entry, KEYS[3] the
-- counter of dead letters ever added (all three in the dead stream's slot).
-- ARGV[1] how long to remember the marker (s), then the entry's field/value pairs.
-- Returns the new entry id, or false when this source entry was dead-lettered already.
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('INCR', KEYS[3])
  return redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
end
return false
