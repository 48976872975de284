--[[ Store a leased task's checkpoint (what a restarted attempt resumes from),
or, with ARGV[4] = 'meta', its meta (RQ's save_meta from inside a job).
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] id   ARGV[2] token   ARGV[3] JSON text   ARGV[4] 'meta' or absent
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
local field = 'checkpoint'
if ARGV[4] == 'meta' then field = 'meta' end
redis.call('HSET', tkey, field, ARGV[3], 'updated', now)
return {OK, now}
