--[[ Run a failed or cancelled task again (one more attempt, whatever its
retry budget). It waits again if dependencies are still unresolved.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] id
Returns {OK, new_status, retries} | {E_NOT_FOUND} | {E_STATE, status}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/emit.lua"
--- @include "includes/ready.lua"

local id = ARGV[1]
local tkey = Q.task_prefix .. id
local now = now_ms()
local st = redis.call('HGET', tkey, 'status')
if not st then return {E_NOT_FOUND} end
if st ~= 'failed' and st ~= 'cancelled' then return {E_STATE, st} end
redis.call('ZREM', Q[st], id)
redis.call('HDEL', tkey, 'finished', 'token', 'worker', 'cancel', 'result', 'error')
local retries = redis.call('HINCRBY', tkey, 'retries', 1)
local new_status = 'queued'
if redis.call('SCARD', Q.waiting_prefix .. id) > 0 then
  new_status = 'blocked'
  redis.call('HSET', tkey, 'status', 'blocked', 'updated', now)
  redis.call('ZADD', Q.blocked, now, id)
else
  make_ready(Q, id, tkey, now)
  wake(Q, 1)
end
emit(Q, now, 'retrying', id, {'reason', 'manual'})
return {OK, new_status, retries}
