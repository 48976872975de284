--[[ Renew or extend a lease (in the task and in its holder's index); tells
the holder whether cancel was requested.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] id   ARGV[2] token   ARGV[3] ms
ARGV[4] mode 'renew' (expires = now + ms) | 'extend' (expires = expires + ms)
Returns {OK, expires_ms, cancel_requested 0|1} | {E_NOT_FOUND} | {E_LEASE, status}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/renew.lua"

pass_a_full_redis(Q)
local expires, cancel = renew_lease(Q, ARGV[1], ARGV[2], now_ms(), tonumber(ARGV[3]),
  ARGV[4] == 'extend')
if not expires then return cancel end
return {OK, expires, cancel and 1 or 0}
