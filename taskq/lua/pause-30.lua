--[[ Pause or resume a queue: a paused queue leases nothing; everything else
(enqueue, promotion, reaping, completion) goes on.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] '1' pause | '0' resume
Returns {OK}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/emit.lua"
--- @include "includes/ready.lua"

local now = now_ms()
if ARGV[1] == '1' then
  redis.call('HSET', Q.meta, 'paused', '1')
  emit(Q, now, 'paused', '')
else
  redis.call('HDEL', Q.meta, 'paused')
  emit(Q, now, 'resumed', '')
  wake(Q, redis.call('ZCOUNT', Q.queued, '-inf', '(' .. PARKED))
end
return {OK}
