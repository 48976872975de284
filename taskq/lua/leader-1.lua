--[[ Leadership among several schedulers: a lock with a TTL that only its
holder may renew or give up.
KEYS[1] the leader key
ARGV[1] candidate id   ARGV[2] ttl ms   ARGV[3] 'acquire' (or renew) | 'release'
Returns 1 when the candidate holds the lock after the call, else 0.
]]
local leader_key = KEYS[1]
local holder = redis.call('GET', leader_key)
if ARGV[3] == 'release' then
  if holder == ARGV[1] then redis.call('DEL', leader_key) end
  return 0
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', leader_key, ARGV[2])
  return 1
end
if not holder then
  -- DEL of the absent key changes nothing but is a write that cannot grow
  -- memory, so the SET after it goes through a full Redis too (its
  -- scheduler then runs the upkeep that drains and frees it:
  -- includes/full.lua)
  redis.call('DEL', leader_key)
  redis.call('SET', leader_key, ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
