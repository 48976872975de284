--[[ Periodic upkeep of one queue (the scheduler's backstop for queues no
live worker claims from): promote due delayed tasks, reap expired leases and
remove finished tasks whose retention ended (includes/retention.lua).
The reply says when the queue next needs a visit, as claim's does: the ms to
its earliest delayed due time, lease expiry or retention end (-1: none), and how many
entries its dependency outbox holds, so the scheduler visits a queue only
when one of its timers is due and drains an outbox only when it holds some.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] limit   at most this many of each per call
Returns {OK, requeued, failed, promoted, outbox_entries_sent, next_ms, outbox_len, removed}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/reap.lua"
--- @include "includes/retention.lua"

local limit = tonumber(ARGV[1])
local now = now_ms()
-- the heads of the timer zsets are read once; promotion and reaping run only
-- when one is due (an idle visit is four reads), and read them again after
local due, expiry = first_score(Q.delayed), first_score(Q.running)
local requeued, failed, promoted, sent = 0, 0, 0, 0
if due and due <= now then
  promoted = promote_due(Q, now, limit)
  wake(Q, promoted)
  due = first_score(Q.delayed)
end
if expiry and expiry < now then
  requeued, failed, sent = reap_expired(Q, now, limit)
  due, expiry = first_score(Q.delayed), first_score(Q.running)
end
local gone_at, removed = first_score(Q.expiry), 0
if gone_at and gone_at <= now then
  removed = forget_due(Q, now, limit)
  gone_at = first_score(Q.expiry)
end
-- a due time is promoted at it, a lease reaped 1 ms past it; a call that hit
-- its limit leaves a timer already due (0 ms)
local t = due
if expiry and (not t or expiry + 1 < t) then t = expiry + 1 end
if gone_at and (not t or gone_at < t) then t = gone_at end
local next_ms = -1
if t then next_ms = math.max(0, t - now) end
return {OK, requeued, failed, promoted, sent, next_ms, redis.call('LLEN', Q.outbox), removed}
