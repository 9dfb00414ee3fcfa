-- Read new entries for a consumer, counting the entries deleted before any consumer got them.
-- KEYS[1] the ingest stream, KEYS[2] its counter of entries delivered to the group,
-- KEYS[3] its counter of entries deleted before delivery (both in the stream's slot).
-- ARGV[1] group, ARGV[2] consumer, ARGV[3] count, ARGV[4] the most bytes of a field value
-- sent back whole: a longer one comes back as its first 4096 bytes, and the entry gains
-- a field "__truncated" with the value's full size (so a read is bounded in bytes).
-- Returns {entries (as XREADGROUP gives them for the stream: {id, {field, value, ...}}),
--          deleted just now, the stream's last generated id}.
--
-- A producer cannot XDEL or XTRIM (its ACL), but XADD with MAXLEN or MINID trims the
-- head of the stream. Head trimming removes the oldest entries, so entries deleted
-- before delivery are gone only when the first entry left is past the group's last
-- delivered one (or nothing is left): then the undelivered entries that should be
-- there (added minus delivered) and those that are (the stream's length) differ by
-- the number deleted. Redis's own lag cannot tell: trimming does not mark tombstones.
local function field(list, name)
  for i = 1, #list, 2 do
    if list[i] == name then return list[i + 1] end
  end
  return nil
end

-- Ids compared as text, zero-padded: their numbers can exceed what a Lua number holds.
local function sortable(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return string.rep('0', 20 - #ms) .. ms .. '-' .. string.rep('0', 20 - #seq) .. seq
end

local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last_delivered = nil
local lag = nil
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  if field(group, 'name') == ARGV[1] then
    last_delivered = field(group, 'last-delivered-id')
    lag = field(group, 'lag')
  end
end
if not last_delivered then
  return redis.error_reply('NOGROUP no consumer group ' .. ARGV[1] .. ' on ' .. KEYS[1])
end
local added = tonumber(field(info, 'entries-added'))
local length = tonumber(field(info, 'length'))
local first = field(info, 'recorded-first-entry-id')
local delivered = tonumber(redis.call('GET', KEYS[2]))
if not delivered then
  -- The group predates the counter (StreamWatch.begin sets it when the group is made):
  -- take what Redis counts as undelivered; when it cannot tell, presume nothing deleted.
  delivered = added - (tonumber(lag) or 0)
end
local deleted = 0
local undelivered = added - delivered
if length == 0 or sortable(first) > sortable(last_delivered) then
  if undelivered > length then
    deleted = undelivered - length
    redis.call('INCRBY', KEYS[3], deleted)
  end
  delivered = added - length
end
local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3],
  'STREAMS', KEYS[1], '>')
local entries = {}
if reply and reply[1] then
  -- {{stream, entries}}; fakeredis gives {stream, entries}
  if type(reply[1]) == 'table' then entries = reply[1][2] else entries = reply[2] end
end
local most = tonumber(ARGV[4])
for _, entry in ipairs(entries) do
  local fields = entry[2]
  local n = #fields
  for i = 2, n, 2 do
    if #fields[i] > most then
      fields[#fields + 1] = '__truncated'
      fields[#fields + 1] = tostring(#fields[i])
      fields[i] = string.sub(fields[i], 1, 4096)
    end
  end
end
redis.call('SET', KEYS[2], delivered + #entries)
return {entries, deleted, field(info, 'last-generated-id')}
