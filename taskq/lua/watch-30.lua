--[[ Wait for a task's outcome (Task.wait, Queue.result): a task that has
ended answers at once; else the caller is recorded as a waiter (the task's
`waiters` flag), so the script that ends the task publishes its outcome on
the queue's notify channel, to which the caller subscribed before this call
(taskq/waiter_hub.py). Check and registration are one call: a task cannot
end unseen between them.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] id
Returns {OK, status, {field, value, ...}} (ended: completed, failed, cancelled)
      | {NOOP, status} (not ended: registered) | {E_NOT_FOUND}
]]
--- @include "includes/codes.lua"
--- @include "includes/queue_keys.lua"

local id = ARGV[1]
local tkey = Q.task_prefix .. id
local st = redis.call('HGET', tkey, 'status')
if not st then
  return {E_NOT_FOUND}
end
if st == 'completed' or st == 'failed' or st == 'cancelled' then
  return {OK, st, redis.call('HGETALL', tkey)}
end
redis.call('HSET', tkey, 'waiters', '1')
return {NOOP, st}
