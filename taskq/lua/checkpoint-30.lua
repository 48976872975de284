--[[ Store a leased task's checkpoint (what a restarted attempt resumes from).
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] id   ARGV[2] token   ARGV[3] checkpoint (JSON text)
Returns {OK, updated_ms} | {E_NOT_FOUND} | {E_LEASE, status}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/lease.lua"

local id, token = ARGV[1], ARGV[2]
local tkey = Q.task_prefix .. id
local now = now_ms()
local _, refusal = check_lease(tkey, token, now)
if refusal then return refusal end
redis.call('HSET', tkey, 'checkpoint', ARGV[3], 'updated', now)
return {OK, now}
