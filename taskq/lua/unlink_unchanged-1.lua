--[[ Delete a key only if it still holds what the caller copied: a key
moved across cluster slots (copy, then delete) must not lose a write that
reached it between the copy and the delete.
KEYS[1] the key
ARGV[1] its DUMP as the caller read it
Returns 1 when the key was deleted, 0 when it changed (or is gone).
]]
local old_key = KEYS[1]
if redis.call('DUMP', old_key) == ARGV[1] then
  return redis.call('DEL', old_key)
end
return 0
