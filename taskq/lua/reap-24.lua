--[[ Periodic upkeep of one queue (the scheduler calls it every second):
promote due delayed tasks and reap expired leases.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] limit   at most this many of each per call
Returns {OK, requeued, failed, promoted, outbox_entries}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/reap.lua"

local limit = tonumber(ARGV[1])
local now = now_ms()
local promoted = promote_due(Q, now, limit)
wake(Q, promoted)
local requeued, failed, sent = reap_expired(Q, now, limit)
return {OK, requeued, failed, promoted, sent}
