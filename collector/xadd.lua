-- Add a batch of events to one ingest stream, all or nothing, in one call.
-- KEYS[1] the stream. ARGV[1] n, the number of shared field/value pairs that follow
-- (received_at, seed), then those 2n values, then each event's JSON.
-- Returns the new entry ids, in order.
-- One call instead of a MULTI/EXEC of one XADD per event: the API process packs one
-- command and reads one reply, the cost that dominated HTTP batches after validation.
local shared = tonumber(ARGV[1])
local args = {'*', 'event', ''}
for i = 2, 2 * shared + 1 do args[#args + 1] = ARGV[i] end
local ids = {}
for i = 2 * shared + 2, #ARGV do
  args[3] = ARGV[i]
  ids[#ids + 1] = redis.call('XADD', KEYS[1], unpack(args))
end
return ids
