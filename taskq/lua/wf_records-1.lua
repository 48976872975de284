--[[ Fields of many workflow records in one call (a read): what a pool
worker's batch of claimed steps and status follow-ups need of them.
KEYS[1] the workflow record key prefix (a workflow id appended: its record)
ARGV[1] how many field lists follow, then each: its length and its field
names (a name ending in ':' is completed by the item's suffix: 'inputs:'
+ a step's name); then per item: workflow id, which list (1-based), suffix
Returns the values of every item's fields in turn (false for a missing one).
]]
local lists, i = {}, 2
for l = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[i])
  lists[l] = {unpack(ARGV, i + 1, i + n)}
  i = i + 1 + n
end
local out = {}
while i <= #ARGV do
  local fields, suffix = {}, ARGV[i + 2]
  for j, name in ipairs(lists[tonumber(ARGV[i + 1])]) do
    fields[j] = (string.sub(name, -1) == ':') and (name .. suffix) or name
  end
  local got = redis.call('HMGET', KEYS[1] .. ARGV[i], unpack(fields))
  for j = 1, #fields do out[#out + 1] = got[j] end
  i = i + 3
end
return out
