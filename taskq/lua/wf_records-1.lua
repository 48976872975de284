--[[ Fields of many workflow records in one call (a read): what a pool
worker's batch of claimed steps and status follow-ups need of them.
KEYS[1] the workflow record key prefix (a workflow id appended: its record)
ARGV: per record: workflow id, number of fields f, the f field names
Returns the values of every record's fields in turn (false for a missing one).
]]
local out, i = {}, 1
while i <= #ARGV do
  local f = tonumber(ARGV[i + 1])
  local got = redis.call('HMGET', KEYS[1] .. ARGV[i], unpack(ARGV, i + 2, i + 1 + f))
  for j = 1, f do out[#out + 1] = got[j] end
  i = i + 2 + f
end
return out
