--[[ Renew many leases of one queue in one call: a worker's heartbeat for
every task it holds, running or prefetched and not started, so short leases
cost one call per queue per beat, not one per task. Each lease is fenced by
its own token, as in heartbeat-30.lua.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] n, then n triples: id, token, ms (expires = now + ms)
Returns {OK, code1, code2, ...}: 1 renewed, 2 renewed and cancel requested,
0 refused (expired, reclaimed, ended or deleted: the holder must let it go).
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/renew.lua"

local n = tonumber(ARGV[1])
local now = now_ms()
pass_a_full_redis(Q)
local out = {OK}
for i = 1, n do
  local base = i * 3 - 1
  local expires, cancel = renew_lease(Q, ARGV[base], ARGV[base + 1], now,
    tonumber(ARGV[base + 2]), false)
  if not expires then out[#out + 1] = 0
  elseif cancel then out[#out + 1] = 2
  else out[#out + 1] = 1 end
end
return out
