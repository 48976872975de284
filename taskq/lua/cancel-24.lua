--[[ Cancel a task. Queued, delayed or blocked: cancelled now (dependents are
resolved by their policy). Running: cancel is requested; the holder sees it
at its next heartbeat and acknowledges with fail(mode='cancel'); a lease that
expires with cancel requested ends cancelled too.
KEYS: the queue's keys (includes/queue_keys.lua)
ARGV[1] id   ARGV[2] reason (may be empty)
Returns {OK, 'cancelled', outbox_entries} | {OK, 'cancel_requested', 0}
      | {E_NOT_FOUND} | {E_STATE, status}
]]
--- @include "includes/codes.lua"
--- @include "includes/now_ms.lua"
--- @include "includes/queue_keys.lua"
--- @include "includes/finish.lua"

local id = ARGV[1]
local reason = ARGV[2] ~= '' and ARGV[2] or nil
local tkey = Q.task_prefix .. id
local now = now_ms()
local st = redis.call('HGET', tkey, 'status')
if not st then return {E_NOT_FOUND} end
if st == 'queued' or st == 'delayed' or st == 'blocked' then
  return {OK, 'cancelled', finish(Q, id, tkey, st, 'cancelled', now, reason)}
end
if st == 'running' then
  redis.call('HSET', tkey, 'cancel', '1', 'updated', now)
  emit(Q, now, 'cancel_requested', id)
  return {OK, 'cancel_requested', 0}
end
return {E_STATE, st}
