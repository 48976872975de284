--[[ Wait for a task's outcome, step 1 (Task.wait, Queue.result): a task that
has ended answers at once; else the caller is recorded as a waiter, so the
script that ends the task pushes to the task's notify list, on which the
caller then blocks (BLPOP). Check and registration are one call, so a task
cannot end unseen between them.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] id
ARGV[2] '1' a new waiter (counted) | '0' a waiter looking again (counted
        only if the task's count was reset since, by its ending and a retry)
Returns {OK, status, {field, value, ...}} (ended: completed, failed, cancelled)
      | {NOOP, status} (not ended: registered) | {E_NOT_FOUND}
]]
--- @include "includes/codes.lua"
--- @include "includes/queue_keys.lua"

local id = ARGV[1]
local tkey = Q.task_prefix .. id
local st = redis.call('HGET', tkey, 'status')
if not st then return {E_NOT_FOUND} end
if st == 'completed' or st == 'failed' or st == 'cancelled' then
  return {OK, st, redis.call('HGETALL', tkey)}
end
if ARGV[2] == '1' then
  redis.call('HINCRBY', tkey, 'waiters', 1)
else
  redis.call('HSETNX', tkey, 'waiters', 1)
end
return {NOOP, st}
