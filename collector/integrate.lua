-- Append hashes to a tenant's Merkle tree, only if no one else appended first.
-- KEYS[1] the tree size, then one stored-row chunk per write.
-- ARGV[1] the size the caller read, ARGV[2] the new size, then per write: byte offset, bytes.
-- Returns 1 when written, 0 (and nothing written) when the size had moved.
if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then
  return 0
end
for i = 2, #KEYS do
  redis.call('SETRANGE', KEYS[i], tonumber(ARGV[2 * i - 1]), ARGV[2 * i])
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
