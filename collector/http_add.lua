-- Add HTTP-accepted events to one HTTP ingest stream, unless its backlog is over a limit.
-- KEYS[1] the stream, KEYS[2] a hash of what was ever added to it, fields "bytes" and
-- "entries" (same slot).
-- ARGV[1] group, ARGV[2] most unconsumed entries, ARGV[3] most unconsumed bytes,
-- ARGV[4] s, the number of field/value pairs every entry shares (received_at, ...), then
-- those 2s names and values, then each entry's event JSON (its "event" field).
-- Shared fields go once, not once per entry: the API packs one argument per event.
-- Returns {'ok', id1, id2, ...} or {'full', 'events'|'bytes', how many now}.
--
-- The check and the adds are one step, so concurrent requests cannot all pass the
-- check and then overshoot together: a batch is refused once the backlog is over a
-- limit, so it ends over by at most one batch. Unconsumed bytes are estimated from the
-- entries not yet acked (lag + pending) times the stream's mean entry size.
local group, max_events, max_bytes = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local first = 5 + tonumber(ARGV[4]) * 2
local n = #ARGV - first + 1
local fields, shared_bytes = {'event', ''}, 0
for i = 5, first - 1 do
  fields[#fields + 1] = ARGV[i]
  shared_bytes = shared_bytes + #ARGV[i]
end
local incoming = n * (#'event' + shared_bytes)
for i = first, #ARGV do incoming = incoming + #ARGV[i] end

local unconsumed = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  unconsumed = redis.call('XLEN', KEYS[1])
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    local info = {}
    for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
    if info['name'] == group and type(info['lag']) == 'number' then
      unconsumed = info['lag'] + info['pending']
    end
  end
end
if unconsumed > max_events then
  return {'full', 'events', unconsumed}
end
local totals = redis.call('HMGET', KEYS[2], 'bytes', 'entries')
local added_bytes, added = tonumber(totals[1] or '0'), tonumber(totals[2] or '0')
local held = 0
if added > 0 then held = unconsumed * added_bytes / added end
if held > max_bytes then
  return {'full', 'bytes', math.floor(held)}
end
local out = {'ok'}
for i = first, #ARGV do
  fields[2] = ARGV[i]
  out[#out + 1] = redis.call('XADD', KEYS[1], '*', unpack(fields))
end
redis.call('HINCRBY', KEYS[2], 'bytes', incoming)
redis.call('HINCRBY', KEYS[2], 'entries', n)
return out
