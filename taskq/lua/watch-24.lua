--[[ Wait for a task's outcome, step 1 (Task.wait, Queue.result): a task that
has ended answers at once; else the caller is recorded as a waiter (the
task's `waiters` flag), so the script that ends the task pushes its outcome
to the task's notify list, on which the caller then blocks (BLMOVE from the
list to itself). Check and registration are one call: a task cannot end
unseen between them.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] id
ARGV[2] '1' when the caller's blocking call follows in the same pipeline:
        then a task that has ended (or does not exist) has its outcome (or
        'missing') listed, if nothing is, so that call returns at once
Returns {OK, status, {field, value, ...}} (ended: completed, failed, cancelled)
      | {NOOP, status} (not ended: registered) | {E_NOT_FOUND}
]]
--- @include "includes/codes.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/notify.lua"

local id = ARGV[1]
local tkey = Q.task_prefix .. id
local nkey = Q.notify_prefix .. id
local pop_follows = ARGV[2] == '1'
local f = redis.call('HMGET', tkey, 'status', 'result', 'error')
local st = f[1]
if not st then
  if pop_follows and redis.call('EXISTS', nkey) == 0 then
    notify_waiters(Q, id, tkey, 'missing', nil)
  end
  return {E_NOT_FOUND}
end
if st == 'completed' or st == 'failed' or st == 'cancelled' then
  if pop_follows and redis.call('EXISTS', nkey) == 0 then
    notify_waiters(Q, id, tkey, st, st == 'completed' and f[2] or f[3])
  end
  return {OK, st, redis.call('HGETALL', tkey)}
end
-- an outcome still listed is an earlier run's (the task was retried since)
redis.call('DEL', nkey)
redis.call('HSET', tkey, 'waiters', '1')
return {NOOP, st}
